"""`scaffold` never deletes or overwrites what it was not asked to, and every failure of the
command line is one line: dangerous output paths, --force, unwritable outputs, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scaffold.cli import main
from test_cli import REQUIRED, SET_REQUIRED, assert_one_error_line

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(sys.executable).parent / "scaffold")

pytestmark = pytest.mark.usefixtures("umask_022")


def snapshot(root: Path) -> dict[str, tuple[str, object, int]]:
    """Every entry under `root` (links not followed): kind, content or target, and mode."""
    tree: dict[str, tuple[str, object, int]] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder, name)
            mode = path.lstat().st_mode & 0o7777
            if path.is_symlink():
                tree[str(path.relative_to(root))] = ("link", os.readlink(path), mode)
            elif path.is_dir():
                tree[str(path.relative_to(root))] = ("dir", None, mode)
            else:
                tree[str(path.relative_to(root))] = ("file", path.read_bytes(), mode)
    return tree


class Sandbox:
    """A home folder holding a clone of the repository with uncommitted work, and links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home" / "dev"
        self.repo = self.home / "src" / "repo"
        self.repo.mkdir(parents=True)
        shutil.copy2(ROOT / "template.yaml", self.repo / "template.yaml")
        shutil.copytree(ROOT / "skeleton", self.repo / "skeleton", symlinks=True)
        shutil.copytree(ROOT / "examples", self.repo / "examples")
        (self.repo / ".git").mkdir()
        (self.repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (self.repo / "uncommitted.txt").write_text("work in progress\n")
        (self.home / "notes.txt").write_text("home file\n")
        self.outside = root / "outside"
        self.outside.mkdir()
        (self.outside / "keep.txt").write_text("outside\n")
        (root / "link-to-repo").symlink_to(self.repo)
        (root / "link-to-home").symlink_to(self.home)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    box = Sandbox(tmp_path)
    monkeypatch.setenv("HOME", str(box.home))
    monkeypatch.chdir(box.repo)
    return box


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- dangerous outputs

# (output as typed, cwd relative to the sandbox root, what the error names)
DANGEROUS = {
    "dot": (".", "home/dev/src/repo", "is the current folder"),
    "dot-slash": ("./", "home/dev/src/repo", "is the current folder"),
    "dot-dot": ("..", "home/dev/src/repo", "contains the current folder"),
    "two-up": ("../..", "home/dev/src/repo", "is the home folder"),
    "three-up": ("../../..", "home/dev/src/repo", "contains the current folder"),
    "cwd-absolute": ("{root}/home/dev/src/repo", "home/dev/src/repo", "is the current folder"),
    "link-to-cwd": ("{root}/link-to-repo", "home/dev/src/repo", "is the current folder"),
    "template-folder": ("{root}/home/dev/src/repo", "outside", "is the template folder"),
    "template-folder-link": ("{root}/link-to-repo", "outside", "is the template folder"),
    "parent-of-template": ("{root}/home/dev/src", "outside", "contains the template folder"),
    "tilde": ("~", "outside", "is the home folder"),
    "tilde-parent": ("~/..", "outside", "contains the home folder"),
    "home-absolute": ("{root}/home/dev", "outside", "is the home folder"),
    "link-to-home": ("{root}/link-to-home", "outside", "is the home folder"),
    "root": ("/", "outside", "is the filesystem root"),
    "root-via-dots": ("{root}/../../../../../../../..", "outside", "is the filesystem root"),
}


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("case", list(DANGEROUS))
def test_dangerous_output_is_refused_and_nothing_changes(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
    force: bool,
) -> None:
    output, cwd, fragment = DANGEROUS[case]
    monkeypatch.chdir(sandbox.root / cwd)
    before = snapshot(sandbox.root)
    code, out, err = run(
        capsys,
        "render",
        "--template",
        sandbox.repo / "template.yaml",
        *SET_REQUIRED,
        "--output",
        output.format(root=sandbox.root),
        *(["--force"] if force else []),
    )
    assert (code, out) == (2, "")
    assert_one_error_line(err, "refused", fragment)
    assert snapshot(sandbox.root) == before


def test_the_reported_command_leaves_the_clone_alone(sandbox: Sandbox) -> None:
    """The issue's command, as typed in a clone with an uncommitted file."""
    before = snapshot(sandbox.root)
    done = subprocess.run(
        [SCRIPT, "render", "--values", "examples/values.yaml", "--output", ".", "--force"],
        cwd=sandbox.repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": str(sandbox.home)},
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert_one_error_line(done.stderr, "refused", "is the current folder")
    assert snapshot(sandbox.root) == before


def test_fetch_template_refuses_its_skeleton_and_stays_out_of_it(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    skeleton = sandbox.outside / "skel"
    (skeleton / "sub").mkdir(parents=True)
    (skeleton / "sub" / "a.txt").write_text("${{ values.name }}\n")
    values = sandbox.outside / "values.json"
    values.write_text(json.dumps({"name": "demo"}))
    before = snapshot(sandbox.root)
    for output in (skeleton, skeleton / "sub" / "..", sandbox.outside):
        code, _, err = run(
            capsys, "fetch-template", skeleton, "--values", values, "--output", output, "--force"
        )
        assert code == 2
        assert_one_error_line(err, "refused", "the template folder")
    code, _, err = run(capsys, "fetch-template", skeleton, "--values", values, "--output", skeleton / "out")
    assert code == 2
    assert_one_error_line(err, "targetPath must not be within template path")
    assert snapshot(sandbox.root) == before


# --------------------------------------------------------------------------- --force


def render_into(capsys: pytest.CaptureFixture[str], output: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        capsys, "render", "--template", ROOT / "template.yaml", *SET_REQUIRED, "--output", output, *extra
    )


def test_force_replaces_rendered_files_and_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "service"
    assert render_into(capsys, output, "--set", "database=aurora-postgresql")[0] == 0
    # What a developer adds to a rendered service, and a file the next render rewrites.
    (output / ".git").mkdir()
    (output / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (output / "notes.txt").write_text("mine\n")
    (output / "catalog-info.yaml").write_text("edited\n")
    (output / "README.md").unlink()
    (output / "README.md").symlink_to(tmp_path / "elsewhere.md")  # replaced, never written through
    before = snapshot(output)

    code, _, err = render_into(capsys, output, "--set", "database=dynamodb", "--force")
    assert (code, err) == (0, "")
    assert (output / "README.md").is_file()
    assert not (output / "README.md").is_symlink()

    fresh = tmp_path / "fresh"
    assert render_into(capsys, fresh, "--set", "database=dynamodb")[0] == 0
    rendered, after = snapshot(fresh), snapshot(output)
    for path, entry in rendered.items():
        assert after[path] == entry, path
    # Everything the render does not write is as it was: the developer's files, and the
    # Alembic migrations of the earlier Aurora render.
    assert {path: entry for path, entry in after.items() if path not in rendered} == {
        path: entry for path, entry in before.items() if path not in rendered
    }
    assert (output / "migrations").is_dir()
    assert not (tmp_path / "elsewhere.md").exists()
    assert {path.name for path in tmp_path.iterdir()} == {"service", "fresh"}  # no staging left


@pytest.mark.parametrize(
    ("path", "make", "fragment"),
    [
        pytest.param(
            "catalog-info.yaml", "dir", "is a folder where the render writes a file", id="folder-for-file"
        ),
        pytest.param("src", "file", "is a file where the render writes a folder", id="file-for-folder"),
        pytest.param("src", "link", "is a symlink where the render writes a folder", id="link-for-folder"),
    ],
)
def test_force_refuses_to_replace_a_kind_of_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, make: str, fragment: str
) -> None:
    output = tmp_path / "service"
    output.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep\n")
    target = output / path
    if make == "dir":
        target.mkdir()
        (target / "inside.txt").write_text("inside\n")
    elif make == "file":
        target.write_text("a file\n")
    else:
        target.symlink_to(elsewhere)
    before = snapshot(tmp_path)
    code, out, err = render_into(capsys, output, "--force")
    assert (code, out) == (2, "")
    assert_one_error_line(err, str(target), fragment, "move it away first")
    assert snapshot(tmp_path) == before


def test_output_through_a_symlink_is_written_where_it_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    code, _, err = render_into(capsys, link)
    assert (code, err) == (0, "")
    assert link.is_symlink()
    assert (real / "catalog-info.yaml").is_file()
    assert {path.name for path in tmp_path.iterdir()} == {"real", "link"}


# --------------------------------------------------------------------------- unwritable outputs


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        pytest.param("{tmp}/afile/sub", "afile is not a folder", id="under-a-file"),
        pytest.param("{tmp}/afile/sub/deeper", "afile is not a folder", id="deeper-under-a-file"),
        pytest.param("/proc/svc", "/proc", id="proc"),
        pytest.param("/sys/svc", "/sys", id="sys"),
    ],
)
def test_output_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str, fragment: str
) -> None:
    (tmp_path / "afile").write_text("a file\n")
    before = snapshot(tmp_path)
    code, out, err = render_into(capsys, Path(output.format(tmp=tmp_path)))
    assert (code, out) == (2, "")
    assert_one_error_line(err, fragment)
    assert snapshot(tmp_path) == before


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="scaffold-cli-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def as_unprivileged_user() -> list[str]:
    """Root may write anywhere; run as nobody so that folder modes apply."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: folder modes do not apply")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        pytest.param("ro", "ro: folder is not writable", id="read-only-output"),
        pytest.param("ro/out", "cannot create it, ", id="inside-read-only"),
        pytest.param("ro/a/b/out", "ro is not writable", id="deep-inside-read-only"),
    ],
)
def test_read_only_output_is_one_line(shared_tmp: Path, output: str, fragment: str) -> None:
    values = shared_tmp / "values.yaml"
    values.write_text(yaml.safe_dump(REQUIRED, allow_unicode=True), encoding="utf-8")
    values.chmod(0o644)
    (shared_tmp / "ro").mkdir(mode=0o555)
    (shared_tmp / "ro").chmod(0o555)
    before = snapshot(shared_tmp)
    done = subprocess.run(
        [
            *as_unprivileged_user(),
            *(sys.executable, "-m", "scaffold", "render", "--template", str(ROOT / "template.yaml")),
            *("--values", str(values), "--output", output),
        ],
        cwd=shared_tmp,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "HOME": str(shared_tmp / "home")},
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert_one_error_line(done.stderr, fragment)
    assert snapshot(shared_tmp) == before


def test_unreadable_skeleton_entry_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An error no check foresees (here a socket in the skeleton) is one line, exit 1."""
    skeleton = tmp_path / "skel"
    skeleton.mkdir()
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(skeleton / "socket"))
        values = tmp_path / "values.json"
        values.write_text("{}")
        code, out, err = run(
            capsys, "fetch-template", skeleton, "--values", values, "--output", tmp_path / "out"
        )
    finally:
        server.close()
    assert (code, out) == (1, "")
    assert_one_error_line(err, str(skeleton / "socket"))
    assert {path.name for path in tmp_path.iterdir()} == {"skel", "values.json"}


# --------------------------------------------------------------------------- signals and pipes


def test_ctrl_c_mid_render_is_one_line_and_cleans_up(tmp_path: Path) -> None:
    skeleton = tmp_path / "big"
    for folder in range(40):
        (skeleton / f"f{folder}").mkdir(parents=True)
        for number in range(100):
            (skeleton / f"f{folder}" / f"{number}.txt").write_text(
                "{% for i in range(200) %}${{ values.name }} {{ i }}\n{% endfor %}"
            )
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"name": "demo"}))
    # A shell without job control starts background commands with SIGINT ignored, and an
    # ignored SIGINT stays ignored in children: handled while the render starts, it is reset
    # to the default in the render, as under a terminal.
    command: list[str | Path] = [
        sys.executable,
        "-m",
        "scaffold",
        "fetch-template",
        skeleton,
        "--values",
        values,
    ]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [*command, "--output", "out"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    # Wait until the render has written into its staging folder, then press Ctrl-C.
    deadline = time.monotonic() + 60
    while not any(any(path.iterdir()) for path in tmp_path.glob(".out.*") if path.is_dir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out) == (130, "")
    assert err == "scaffold: interrupted, the output was not written\n"
    assert {path.name for path in tmp_path.iterdir()} == {"big", "values.json"}


def test_closed_pipe_is_silent() -> None:
    """`scaffold params | true`: the reader is gone; no traceback, no error line."""
    done = subprocess.run(
        f"{SCRIPT} params --template {ROOT / 'template.yaml'} | true; echo ${{PIPESTATUS[0]}}",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        executable="/bin/bash",
    )
    assert (done.stdout, done.stderr) == ("141\n", "")


def test_output_through_a_symlink_loop_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "loop").symlink_to("loop")
    before = snapshot(tmp_path)
    code, out, err = render_into(capsys, tmp_path / "loop" / "out")
    assert (code, out) == (2, "")
    assert_one_error_line(err, "loop/out: cannot follow its symlinks")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["render", "params"])
def test_malformed_template_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("apiVersion: scaffolder.backstage.io/v1beta3\nkind: [\n")
    extra = ["--output", str(tmp_path / "out")] if command == "render" else []
    code, out, err = run(capsys, command, "--template", template, *extra)
    assert (code, out) == (2, "")
    assert_one_error_line(err, f"{template}:3: malformed YAML: expected the node content")
    assert {path.name for path in tmp_path.iterdir()} == {"template.yaml"}


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("skeleton", "refused, it overlaps the skeleton"),
        # Staged inside the skeleton, which fetch:template itself refuses.
        ("skeleton/src", "targetPath must not be within template path"),
        ("skeleton/new", "targetPath must not be within template path"),
    ],
)
def test_render_never_writes_into_its_skeleton(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], output: str, fragment: str
) -> None:
    """The skeleton sits inside the template folder, where an output may go; not into it."""
    before = snapshot(sandbox.root)
    code, out, err = run(
        capsys, "render", "--template", "template.yaml", *SET_REQUIRED, "--output", output, "--force"
    )
    assert (code, out) == (2, "")
    assert_one_error_line(err, fragment)
    assert snapshot(sandbox.root) == before


def test_help_states_what_force_does(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("render", "fetch-template"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        force = "each rendered file replaces the file at its path, nothing else in the folder is changed"
        assert f"{force} or deleted" in text
        assert (
            "refused if it is or contains the current folder, the template folder, the home folder or /"
            in text
        )
