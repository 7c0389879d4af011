"""`scaffold update` on a real git history of this template.

The history has two releases of the repository's own template: v1.0.0, and v1.1.0, which
changes, adds, deletes and renames skeleton files and adds a parameter with a default. A
service rendered at v1.0.0 with its own changes is updated and compared with a fresh render
of the target plus the same changes; the results pass their own checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scaffold.answer_migrations import (
    MIGRATIONS_FILE,
    AnswerMigration,
    AnswerMigrationError,
    load_migrations,
    migrate,
)
from scaffold.cli import main
from scaffold.update import ANSWERS_FILE
from scaffold.workflow import Template, known_parameters, run_template
from template_matrix import BASE_VALUES

ROOT = Path(__file__).resolve().parents[1]
# This module's own Redis database (the other modules' generated suites use 9 to 15);
# TEST_UPDATE_REDIS_DB picks another, for a run beside the whole suite.
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('TEST_UPDATE_REDIS_DB', '4')}"
VALUES: dict[str, Any] = {**BASE_VALUES, "database": "none"}
PACKAGE = "orders_api"
GIT_ENVIRONMENT = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}

Edit = Callable[[Path], None]


def git(cwd: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments], cwd=cwd, env=GIT_ENVIRONMENT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"git {' '.join(arguments)}: {result.stderr}"
    return result.stdout


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --------------------------------------------------------------------------- template history


def _record_answers(repo: Path) -> None:
    """The render writes .template-answers.json (the skeleton's own once it has one), naming
    this history as its template."""
    template = repo / "template.yaml"
    if not (repo / "skeleton" / ANSWERS_FILE).exists():
        replace(
            template,
            "        values:\n",
            "        values:\n"
            "          templateSource: SOURCE\n"
            '          templateVersion: "0"\n'
            "          templateAnswers: ${{ parameters }}\n",
        )
        (repo / "skeleton" / ANSWERS_FILE).write_text(
            '${{ {"template": values.templateSource, "version": values.templateVersion,'
            ' "parameters": values.templateAnswers} | dump(2) }}\n',
            encoding="utf-8",
        )
    text = template.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^(\s*templateSource:).*$", lambda m: f"{m[1]} {json.dumps(str(repo))}", text)
    assert count == 1, "template.yaml has no templateSource value"
    template.write_text(text, encoding="utf-8")


def _set_version(repo: Path, version: str) -> None:
    template = repo / "template.yaml"
    text, count = re.subn(
        r"(?m)^(\s*templateVersion:).*$",
        lambda m: f'{m[1]} "{version}"',
        template.read_text(encoding="utf-8"),
    )
    assert count == 1, "template.yaml has no templateVersion value"
    template.write_text(text, encoding="utf-8")


def _release_1_1(repo: Path) -> None:
    """Changes, an added, a deleted and a renamed file, a new parameter with a default."""
    skeleton = repo / "skeleton"
    replace(
        skeleton / "README.md",
        "describes its design, configuration and operation.",
        "describes its design, configuration, operation and template updates.",
    )
    replace(
        skeleton / "src/${{ values.packageName }}/core/middleware/settings.py",
        "0 sends no HSTS header (e.g. plain-HTTP local work)",
        "0 sends no HSTS header (e.g. local work over HTTP)",
    )
    with (skeleton / "docs/development.md").open("a", encoding="utf-8") as development:
        development.write("\nCONTRIBUTING.md says how changes are proposed and reviewed.\n")
    (skeleton / "${{ 'CONTRIBUTING.md' if values.contributingGuide else '' }}").write_text(
        "# Contributing to ${{ values.name }}\n\nOpen a pull request; CI must pass before review.\n",
        encoding="utf-8",
    )
    (skeleton / ".github/dependabot.yml").unlink()
    (skeleton / "tests/test_heap.py").rename(skeleton / "tests/test_gc_freeze.py")
    replace(
        repo / "template.yaml",
        "      properties:\n        auth:\n",
        "      properties:\n"
        "        contributingGuide:\n"
        "          title: Contributing guide\n"
        "          type: boolean\n"
        "          default: true\n"
        "        auth:\n",
    )
    replace(
        repo / "template.yaml",
        "          auth: ${{ parameters.auth }}\n",
        "          auth: ${{ parameters.auth }}\n"
        "          contributingGuide: ${{ parameters.contributingGuide }}\n",
    )
    template = (repo / "template.yaml").read_text(encoding="utf-8")
    if "          templateAnswers:\n" in template:  # answers listed one by one: record the new one
        replace(
            repo / "template.yaml",
            "          templateAnswers:\n",
            "          templateAnswers:\n"
            "            contributingGuide: ${{ parameters.contributingGuide }}\n",
        )


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's template and package at v1.0.0 and v1.1.0, and a branch whose
    render writes no answers file."""
    repo = tmp_path_factory.mktemp("template")
    for name in ("template.yaml", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(ROOT / "skeleton", repo / "skeleton", symlinks=True)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    _record_answers(repo)
    _set_version(repo, "1.0.0")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "1.0.0")
    git(repo, "tag", "v1.0.0")
    _release_1_1(repo)
    _set_version(repo, "1.1.0")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "1.1.0")
    git(repo, "tag", "v1.1.0")
    git(repo, "switch", "--quiet", "--create", "no-answers")
    git(repo, "rm", "--quiet", f"skeleton/{ANSWERS_FILE}")
    git(repo, "commit", "--quiet", "-m", "no answers file")
    git(repo, "switch", "--quiet", "main")
    return repo


def render(repo: Path, ref: str, values: dict[str, Any], into: Path) -> Path:
    """What `scaffold render` makes of the template at `ref`."""
    source = into.with_name(f"{into.name}-template")
    source.mkdir()
    archive = subprocess.run(["git", "archive", ref], cwd=repo, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    into.mkdir()
    run_template(Template.load(source / "template.yaml"), values, into)
    return into


@pytest.fixture(scope="module")
def v1_render(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(template_repo, "v1.0.0", VALUES, tmp_path_factory.mktemp("v1") / "render")


# --------------------------------------------------------------------------- services


def service_changes(service: Path, *, heap_test: str = "tests/test_heap.py") -> None:
    """What a team typically changes: a new domain, a README paragraph, a setting's default,
    a deleted file, a test added to a template test module."""
    domain = service / "src" / PACKAGE / "orders"
    domain.mkdir()
    (domain / "__init__.py").write_text('"""Orders: what a customer buys."""\n', encoding="utf-8")
    (domain / "totals.py").write_text(
        '"""Order totals."""\n\nfrom decimal import Decimal\n\n\n'
        "def order_total(prices: list[Decimal]) -> Decimal:\n"
        "    return sum(prices, Decimal(0))\n",
        encoding="utf-8",
    )
    (service / "tests/test_order_totals.py").write_text(
        f"from decimal import Decimal\n\nfrom {PACKAGE}.orders.totals import order_total\n\n\n"
        "def test_total_adds_the_line_prices() -> None:\n"
        '    assert order_total([Decimal("1.50"), Decimal("2.25")]) == Decimal("3.75")\n',
        encoding="utf-8",
    )
    replace(
        service / "README.md", "and prototypes, and are lost", "and prototypes (orders too), and are lost"
    )
    replace(
        service / f"src/{PACKAGE}/core/middleware/settings.py",
        "request_timeout_seconds: float = Field(default=30.0, gt=0)",
        "request_timeout_seconds: float = Field(default=10.0, gt=0)",
    )
    replace(
        service / "tests/test_config.py", "request_timeout_seconds == 30", "request_timeout_seconds == 10"
    )
    (service / ".pre-commit-config.yaml").unlink()
    with (service / heap_test).open("a", encoding="utf-8") as test:
        test.write("\n\ndef test_collection_runs() -> None:\n    assert gc.collect() >= 0\n")


def conflicting_changes(service: Path) -> None:
    """Changes that overlap v1.1.0's: the same README sentence, a file it changes deleted, a
    file it deletes changed."""
    replace(
        service / "README.md",
        "describes its design, configuration and operation.",
        "describes its design and how to run it.",
    )
    (service / "docs/development.md").unlink()
    with (service / ".github/dependabot.yml").open("a", encoding="utf-8") as dependabot:
        dependabot.write("# reviewed weekly\n")


def new_service(render_dir: Path, into: Path, *edits: Edit) -> Path:
    """A repository with the render as its first commit and each edit as a further commit."""
    shutil.copytree(render_dir, into, symlinks=True)
    git(into, "init", "--quiet", "--initial-branch=main")
    git(into, "add", "--all")
    git(into, "commit", "--quiet", "-m", "Render the template")
    for edit in edits:
        edit(into)
        git(into, "add", "--all")
        git(into, "commit", "--quiet", "-m", "Service change")
    return into


def scaffold_update(
    capsys: pytest.CaptureFixture[str], service: Path, *arguments: str
) -> tuple[int, str, str]:
    code = main(["update", "--project", str(service), *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def files(folder: Path) -> dict[str, tuple[bool, bytes]]:
    """Every file but git's own: path, executable bit and content."""
    return {
        str(path.relative_to(folder)): (os.access(path, os.X_OK), path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(folder).parts
    }


def assert_same_files(actual: Path, expected: Path) -> None:
    """The same files; the answers file the same JSON (an update appends new parameters where
    a fresh render has them in the order they were filled in)."""
    got, want = files(actual), files(expected)
    assert sorted(got) == sorted(want)
    assert json.loads(got.pop(ANSWERS_FILE)[1]) == json.loads(want.pop(ANSWERS_FILE)[1])
    different = [path for path in want if got[path] != want[path]]
    assert not different, f"differ from a fresh render with the same changes: {different}"


def status(service: Path) -> str:
    return git(service, "status", "--porcelain")


def run_checks(service: Path, workspace: Path, tests: tuple[str, ...] = ()) -> None:
    """The service's own lint, format, type and test commands, as its CI runs them, in a copy
    (its virtual environment and lock file stay out of the service the other tests read);
    ``tests`` narrows pytest to those paths."""
    service = shutil.copytree(service, workspace / service.name, symlinks=True)
    environment = {
        **os.environ,
        "UV_PYTHON_DOWNLOADS": "never",
        "VIRTUAL_ENV": "",
        "TEST_REDIS_URL": REDIS_URL,
        # A test that needs a server fails instead of skipping when it cannot reach it.
        "CI": "true",
    }
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    for command in (
        [uv, "sync", "--quiet", "--compile-bytecode"],
        [uv, "run", "--no-sync", "ruff", "check", "."],
        [uv, "run", "--no-sync", "ruff", "format", "--check", "."],
        [uv, "run", "--no-sync", "mypy"],
        [uv, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider", *tests],
    ):
        result = subprocess.run(
            command, cwd=service, env=environment, capture_output=True, text=True, timeout=900, check=False
        )
        assert result.returncode == 0, (
            f"{' '.join(command)}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        )


# --------------------------------------------------------------------------- updates


@pytest.fixture(scope="module")
def updated(
    template_repo: Path, v1_render: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    """A v1.0.0 service with its own changes, updated with the defaults: the template in the
    answers file, its highest release."""
    service = new_service(v1_render, tmp_path_factory.mktemp("updated") / "service", service_changes)
    code = main(["update", "--project", str(service)])
    return service, code


def test_update_applies_the_template_and_keeps_the_service_changes(
    template_repo: Path, updated: tuple[Path, int], tmp_path: Path
) -> None:
    service, code = updated
    assert code == 0
    expected = render(template_repo, "v1.1.0", VALUES, tmp_path / "fresh")
    service_changes(expected, heap_test="tests/test_gc_freeze.py")
    assert_same_files(service, expected)
    # Spelled out: each kind of template change, and the service's own changes.
    assert "operation and template updates." in (service / "README.md").read_text()
    assert "(orders too)" in (service / "README.md").read_text()
    settings = (service / f"src/{PACKAGE}/core/middleware/settings.py").read_text()
    assert "default=10.0" in settings
    assert "(e.g. local work over HTTP)" in settings
    assert (service / "CONTRIBUTING.md").is_file()
    assert not (service / ".github/dependabot.yml").exists()
    assert not (service / "tests/test_heap.py").exists()
    assert "def test_collection_runs" in (service / "tests/test_gc_freeze.py").read_text()
    assert not (service / ".pre-commit-config.yaml").exists()
    assert (service / f"src/{PACKAGE}/orders/totals.py").is_file()
    answers = json.loads((service / ANSWERS_FILE).read_text())
    assert answers["version"] == "1.1.0"
    assert answers["parameters"]["contributingGuide"] is True
    assert git(service, "ls-files", "--unmerged") == ""
    # Staged, not committed: the index holds the whole result.
    assert git(service, "diff", "--name-only") == ""
    assert "M  README.md" in status(service).splitlines()


def test_overlapping_changes_are_left_as_conflicts(
    capsys: pytest.CaptureFixture[str], template_repo: Path, v1_render: Path, tmp_path: Path
) -> None:
    service = new_service(v1_render, tmp_path / "service", conflicting_changes)
    code, out, err = scaffold_update(capsys, service, "--template", str(template_repo))
    assert (code, err) == (1, "")
    conflicted = ["README.md", "docs/development.md", ".github/dependabot.yml"]
    listed = out.split("conflicts (3):\n", 1)[1].splitlines()[:3]
    assert sorted(line.strip() for line in listed) == sorted(conflicted)
    assert "docs/development.md deleted in service and modified in template-v1.1.0" in out
    readme = (service / "README.md").read_text()
    assert "<<<<<<< service\n" in readme
    assert ">>>>>>> template-v1.1.0\n" in readme
    assert "describes its design and how to run it." in readme
    assert "operation and template updates." in readme
    # Unmerged in the index, as after `git merge`: a commit waits for the resolution.
    unmerged = git(service, "diff", "--name-only", "--diff-filter=U").split()
    assert sorted(unmerged) == sorted(conflicted)
    # The template's change to the deleted file is there to resolve, the service's change to
    # the file the template deleted is kept.
    assert "CONTRIBUTING.md says how" in (service / "docs/development.md").read_text()
    assert "# reviewed weekly" in (service / ".github/dependabot.yml").read_text()
    # What merged cleanly is applied, and the answers record the merge.
    assert (service / "CONTRIBUTING.md").is_file()
    assert json.loads((service / ANSWERS_FILE).read_text())["version"] == "1.1.0"


def test_dry_run_prints_the_change_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], template_repo: Path, v1_render: Path, tmp_path: Path
) -> None:
    service = new_service(v1_render, tmp_path / "service", service_changes, conflicting_changes)
    before = files(service / ".git")
    code, out, err = scaffold_update(capsys, service, "--template", str(template_repo), "--dry-run")
    assert (code, err) == (1, "")
    assert "to v1.1.0 (1.1.0)" in out
    assert "  parameter contributingGuide: new, true\n" in out
    assert "  A\tCONTRIBUTING.md\n" in out
    assert "  R100\ttests/test_heap.py\ttests/test_gc_freeze.py\n" in out
    assert "conflicts (3):" in out
    assert "+# Contributing to orders-api\n" in out
    assert "dry run: nothing was written" in out
    # Not a file, not an object, not an index entry.
    assert status(service) == ""
    assert files(service / ".git") == before


def test_new_parameter_set_while_updating(
    capsys: pytest.CaptureFixture[str], v1_render: Path, tmp_path: Path
) -> None:
    service = new_service(v1_render, tmp_path / "service")
    code, out, _ = scaffold_update(capsys, service, "--set", "contributingGuide=false")
    assert code == 0
    assert "  parameter contributingGuide: new, false\n" in out
    assert not (service / "CONTRIBUTING.md").exists()
    assert json.loads((service / ANSWERS_FILE).read_text())["parameters"]["contributingGuide"] is False


def test_same_version_and_answers_change_nothing(
    capsys: pytest.CaptureFixture[str], v1_render: Path, tmp_path: Path
) -> None:
    service = new_service(v1_render, tmp_path / "service", service_changes)
    before = files(service)
    code, out, _ = scaffold_update(capsys, service, "--to", "v1.0.0")
    assert code == 0
    assert out.endswith("nothing to change: the service has this template version and these answers\n")
    assert files(service) == before


ANSWER_CHANGES = {
    "cache": ("cache=elasticache-redis", {"cache": "elasticache-redis"}),
    "task-queue": ("taskQueue=celery", {"taskQueue": "celery"}),
    "auth": ("auth=jwt", {"auth": "jwt"}),
}


@pytest.fixture(scope="module")
def changed_answers(
    template_repo: Path, v1_render: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, int]]:
    """Each answer changed with --set on a v1.0.0 service with its own changes, at v1.0.0."""
    results = {}
    for case, (assignment, _) in ANSWER_CHANGES.items():
        service = new_service(v1_render, tmp_path_factory.mktemp(case) / "service", service_changes)
        code = main(["update", "--project", str(service), "--to", "1.0.0", "--set", assignment])
        results[case] = (service, code)
    return results


@pytest.mark.parametrize("case", ANSWER_CHANGES)
def test_changed_answer_equals_a_fresh_render_with_the_service_changes(
    case: str, changed_answers: dict[str, tuple[Path, int]], template_repo: Path, tmp_path: Path
) -> None:
    service, code = changed_answers[case]
    assert code == 0
    expected = render(template_repo, "v1.0.0", {**VALUES, **ANSWER_CHANGES[case][1]}, tmp_path / "fresh")
    service_changes(expected)
    assert_same_files(service, expected)
    assert json.loads((service / ANSWERS_FILE).read_text())["version"] == "1.0.0"


def test_updated_service_passes_its_own_checks(updated: tuple[Path, int], tmp_path: Path) -> None:
    service, code = updated
    assert code == 0
    run_checks(service, tmp_path)


def test_added_cache_passes_its_checks_and_cache_tests_on_a_real_redis(
    changed_answers: dict[str, tuple[Path, int]], tmp_path: Path
) -> None:
    """The rest of its suite is the fresh render's (asserted above), which the generated
    services' suites run."""
    service, code = changed_answers["cache"]
    assert code == 0
    assert (service / "tests/cache").is_dir()
    run_checks(service, tmp_path, tests=("tests/cache",))


def _commit(edit: Edit) -> Edit:
    def committed(service: Path) -> None:
        edit(service)
        git(service, "add", "--all")
        git(service, "commit", "--quiet", "-m", "Change")

    return committed


def _write(path: str, text: str) -> Edit:
    def edit(service: Path) -> None:
        (service / path).write_text(text, encoding="utf-8")

    return edit


def _set_answer(key: str, value: str) -> Edit:
    def edit(service: Path) -> None:
        answers = json.loads((service / ANSWERS_FILE).read_text())
        (service / ANSWERS_FILE).write_text(json.dumps({**answers, key: value}), encoding="utf-8")

    return edit


BAD_INPUTS: dict[str, tuple[Edit | None, list[str], tuple[str, ...]]] = {
    "not-a-repository": (lambda service: shutil.rmtree(service / ".git"), [], ("not a git repository",)),
    "no-answers-file": (
        _commit(lambda service: (service / ANSWERS_FILE).unlink()),
        [],
        ("not a generated service",),
    ),
    "malformed-answers": (_commit(_write(ANSWERS_FILE, "{\n")), [], (ANSWERS_FILE, "malformed JSON")),
    "answers-not-an-object": (_commit(_write(ANSWERS_FILE, "[]\n")), [], (ANSWERS_FILE, "expected")),
    "unknown-version": (_commit(_set_answer("version", "9.9.9")), [], ("unknown version 9.9.9", "v9.9.9")),
    "unknown-ref": (None, ["--to", "v7.0.0"], ("unknown version or ref 'v7.0.0'",)),
    "dirty-tree": (_write("README.md", "edited\n"), [], ("1 uncommitted change", "commit or stash")),
    "untracked-file": (_write("notes.txt", "draft\n"), [], ("1 uncommitted change",)),
    "unknown-parameter": (None, ["--set", "colour=blue"], ("unknown parameter 'colour'",)),
    "refused-value": (None, ["--set", "cache=memcached"], ("parameter 'cache'", "'memcached'", "enum")),
    "refused-pattern": (None, ["--set", "name=Orders_API"], ("parameter 'name'", "pattern")),
    "not-a-choice": (None, ["--set", "tracing=yes"], ("parameter 'tracing'", "'yes'", "enum")),
    "unreachable-template": (None, ["--template", "file:///nonexistent/template.git"], ("is not reachable",)),
    "template-not-a-repository": (None, ["--template", "/"], ("template /: not a git repository",)),
    "target-writes-no-answers": (None, ["--to", "no-answers"], (f"no-answers writes no {ANSWERS_FILE}",)),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_refused_and_nothing_is_written(
    case: str, capsys: pytest.CaptureFixture[str], template_repo: Path, v1_render: Path, tmp_path: Path
) -> None:
    prepare, arguments, fragments = BAD_INPUTS[case]
    service = new_service(v1_render, tmp_path / "service")
    if prepare is not None:
        prepare(service)
    before = files(service), files(service / ".git")
    code, out, err = scaffold_update(capsys, service, *arguments)
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scaffold: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]
    # Neither the working tree nor the repository (index, objects, refs) changed.
    assert (files(service), files(service / ".git")) == before


def test_old_git_is_refused(
    capsys: pytest.CaptureFixture[str], v1_render: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = new_service(v1_render, tmp_path / "service")
    old_git = tmp_path / "bin" / "git"
    old_git.parent.mkdir()
    old_git.write_text("#!/bin/sh\necho 'git version 2.37.1'\n", encoding="utf-8")
    old_git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{old_git.parent}{os.pathsep}{os.environ['PATH']}")
    code, out, err = scaffold_update(capsys, service)
    assert (code, out) == (2, "")
    assert err == "scaffold: error: scaffold update needs git 2.38 or later, found 'git version 2.37.1'\n"


def test_uvx_runs_update_from_a_release_tag(template_repo: Path, v1_render: Path, tmp_path: Path) -> None:
    """`uvx --from git+<template>@<tag> scaffold update`, as a service runs it: the wheel built
    from the tag has the command and everything it needs at run time."""
    service = new_service(v1_render, tmp_path / "service", service_changes)
    uvx = os.environ.get("UVX") or shutil.which("uvx") or "uvx"
    result = subprocess.run(
        [uvx, "--from", f"git+file://{template_repo}@v1.1.0", "scaffold", "update", "--dry-run"],
        cwd=service,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "updating orders-api from template 1.0.0 to v1.1.0 (1.1.0)\n" in result.stdout
    assert "+# Contributing to orders-api\n" in result.stdout
    assert status(service) == ""


# --------------------------------------------------------------------------- answer migrations
#
# A small template of its own, whose v1.1.0 replaces the boolean `datadog` with the enum
# `tracing`, as the real template's 0.2.0 does, and declares the translation in
# answer-migrations.yaml. Its own, so it stays what it is whatever template.yaml becomes.

TRACING_TEMPLATE = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: tracing-history
  title: A boolean replaced by an enum
spec:
  owner: group:default/platform-team
  type: service
  parameters:
    - title: Service
      required:
        - name
      properties:
        name:
          type: string
@PARAMETER@
  steps:
    - id: fetchSkeleton
      name: Generate the service
      action: fetch:template
      input:
        url: ./skeleton
        trimBlocks: true
        lstripBlocks: true
        values:
          name: ${{ parameters.name }}
@VALUE@
          templateSource: @SOURCE@
          templateVersion: "@VERSION@"
          templateAnswers: ${{ parameters }}
"""
DATADOG_PARAMETER = """\
        datadog:
          title: Datadog APM
          type: boolean
          default: true"""
TRACING_PARAMETER = """\
        tracing:
          title: Tracing
          type: string
          enum:
            - datadog
            - opentelemetry
            - none
          default: datadog"""
TRACING_README = """\
# ${{ values.name }}

Serves orders@OVER@.

## Running

Run `python app.py`.
{% if @DATADOG@ %}

## Tracing

Traces go to Datadog.
{% endif %}
"""
TRACING_APP = """\
\"\"\"The ${{ values.name }} service.\"\"\"
{% if @DATADOG@ %}

import ddtrace

ddtrace.patch_all()
{% endif %}


def handle(order: str) -> str:
    return order
"""
TRACING_MIGRATIONS = """\
# 1.1.0 replaces the Datadog switch with a choice of tracing backend.
- version: 1.1.0
  parameter: datadog
  renamedTo: tracing
  values:
    true: datadog
    false: none
"""
# Declarations that a migrating update refuses, each on a branch of its own off v1.1.0.
BAD_MIGRATIONS: dict[str, tuple[str | bytes, str]] = {
    "malformed": (
        "- version: 1.1.0\n  parameter: [datadog\n",
        "v1.1.0-malformed:answer-migrations.yaml:3: malformed YAML",
    ),
    "not-utf8": (b"- version: 1.1.0\n  parameter: datad\xf6g\n", "answer-migrations.yaml: not UTF-8 text"),
    "unknown-key": (
        "- version: 1.1.0\n  parameter: datadog\n  rename: tracing\n",
        "answer-migrations.yaml:1: unknown key 'rename'",
    ),
    "version-not-semver": (
        "- version: 1.1\n  parameter: datadog\n  renamedTo: tracing\n",
        "answer-migrations.yaml:1: version must be major.minor.patch, got 1.1",
    ),
    "unmapped-value": (
        "- version: 1.1.0\n  parameter: datadog\n  renamedTo: tracing\n  values:\n    true: datadog\n",
        "answer-migrations.yaml:1: the recorded datadog false has no entry in values",
    ),
    "renamed-to-an-unknown-parameter": (
        "- version: 1.1.0\n  parameter: datadog\n  renamedTo: tracer\n",
        "answer-migrations.yaml:1: the target's form has no parameter 'tracer'",
    ),
    "value-the-form-refuses": (
        "- version: 1.1.0\n  parameter: datadog\n  renamedTo: tracing\n  values:\n"
        "    true: datadog\n    false: disabled\n",
        'answer-migrations.yaml:1: tracing "disabled" is not one of the target\'s values'
        ' ("datadog", "opentelemetry", "none")',
    ),
}


def _tracing_release(
    repo: Path, version: str, *, parameter: str, value: str, datadog: str, over: str
) -> None:
    """Commit and tag a release: the form's `parameter` (`value` passes it to the skeleton),
    `datadog` the skeleton's condition for its Datadog parts, `over` the README's wording."""
    template = TRACING_TEMPLATE
    for placeholder, text in (
        ("@PARAMETER@", parameter),
        ("@VALUE@", value),
        ("@SOURCE@", json.dumps(str(repo))),
        ("@VERSION@", version),
    ):
        template = template.replace(placeholder, text)
    (repo / "template.yaml").write_text(template, encoding="utf-8")
    skeleton = repo / "skeleton"
    skeleton.mkdir(exist_ok=True)
    (skeleton / "README.md").write_text(
        TRACING_README.replace("@DATADOG@", datadog).replace("@OVER@", over), encoding="utf-8"
    )
    (skeleton / "app.py").write_text(TRACING_APP.replace("@DATADOG@", datadog), encoding="utf-8")
    for old in skeleton.glob("${{ 'datadog.yaml'*"):
        old.unlink()
    (skeleton / f"${{{{ 'datadog.yaml' if {datadog} else '' }}}}").write_text(
        "service: ${{ values.name }}\nenv: production\n", encoding="utf-8"
    )
    (skeleton / ANSWERS_FILE).write_text(
        '${{ {"template": values.templateSource, "version": values.templateVersion,'
        ' "parameters": values.templateAnswers} | dump(2) }}\n',
        encoding="utf-8",
    )
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", version)
    git(repo, "tag", f"v{version}")


@pytest.fixture(scope="module")
def tracing_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.0 asks for `datadog: boolean`; v1.1.0 asks for `tracing: datadog | opentelemetry
    | none` instead, says "over HTTP" in the README and declares the translation; a branch
    per bad declaration."""
    repo = tmp_path_factory.mktemp("tracing-template")
    git(repo, "init", "--quiet", "--initial-branch=main")
    _tracing_release(
        repo,
        "1.0.0",
        parameter=DATADOG_PARAMETER,
        value="          datadog: ${{ parameters.datadog }}",
        datadog="values.datadog",
        over="",
    )
    (repo / "answer-migrations.yaml").write_text(TRACING_MIGRATIONS, encoding="utf-8")
    _tracing_release(
        repo,
        "1.1.0",
        parameter=TRACING_PARAMETER,
        value="          tracing: ${{ parameters.tracing }}",
        datadog="values.tracing == 'datadog'",
        over=" over HTTP",
    )
    for case, (declaration, _) in BAD_MIGRATIONS.items():
        git(repo, "switch", "--quiet", "--create", f"v1.1.0-{case}", "v1.1.0")
        path = repo / "answer-migrations.yaml"
        if isinstance(declaration, bytes):
            path.write_bytes(declaration)
        else:
            path.write_text(declaration, encoding="utf-8")
        git(repo, "commit", "--quiet", "--all", "-m", case)
    git(repo, "switch", "--quiet", "main")
    return repo


def tracing_changes(service: Path) -> None:
    """The service's own changes: a README line, a function, a file."""
    replace(service / "README.md", "Run `python app.py`.", "Run `python app.py` behind the gateway.")
    with (service / "app.py").open("a", encoding="utf-8") as app:
        app.write("\n\ndef refund(order: str) -> str:\n    return order\n")
    (service / "notes.md").write_text("Refunds go through the gateway too.\n", encoding="utf-8")


def tracing_service(repo: Path, datadog: bool, into: Path) -> Path:
    """A service rendered at v1.0.0 with `datadog`, with its own changes committed."""
    rendered = render(repo, "v1.0.0", {"name": "orders-api", "datadog": datadog}, into / "render")
    return new_service(rendered, into / "service", tracing_changes)


def test_update_carries_a_replaced_boolean_to_the_enum(
    capsys: pytest.CaptureFixture[str], tracing_repo: Path, tmp_path: Path
) -> None:
    service = tracing_service(tracing_repo, False, tmp_path)
    assert json.loads((service / ANSWERS_FILE).read_text())["parameters"]["datadog"] is False
    code, out, err = scaffold_update(capsys, service)
    assert (code, err) == (0, "")
    assert '  parameter datadog: false -> tracing: "none" (answer migration 1.1.0)\n' in out
    # Not the default (datadog), which would add the Datadog file and README section.
    expected = render(tracing_repo, "v1.1.0", {"name": "orders-api", "tracing": "none"}, tmp_path / "fresh")
    tracing_changes(expected)
    assert_same_files(service, expected)
    assert "Serves orders over HTTP." in (service / "README.md").read_text()
    assert not (service / "datadog.yaml").exists()
    answers = json.loads((service / ANSWERS_FILE).read_text())
    assert answers["version"] == "1.1.0"
    assert answers["parameters"] == {"name": "orders-api", "tracing": "none"}


def test_dry_run_shows_the_migrated_answer_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tracing_repo: Path, tmp_path: Path
) -> None:
    service = tracing_service(tracing_repo, True, tmp_path)
    before = files(service), files(service / ".git")
    code, out, err = scaffold_update(capsys, service, "--dry-run")
    assert (code, err) == (0, "")
    assert '  parameter datadog: true -> tracing: "datadog" (answer migration 1.1.0)\n' in out
    # The Datadog file stays: the choice was carried, so only the README line changes.
    assert "  M\tREADME.md\n" in out
    assert "datadog.yaml" not in out
    assert "dry run: nothing was written" in out
    assert (files(service), files(service / ".git")) == before


@pytest.mark.parametrize("case", BAD_MIGRATIONS)
def test_a_bad_answer_migration_is_refused_and_nothing_is_written(
    case: str, capsys: pytest.CaptureFixture[str], tracing_repo: Path, tmp_path: Path
) -> None:
    service = tracing_service(tracing_repo, False, tmp_path)
    before = files(service), files(service / ".git")
    code, out, err = scaffold_update(capsys, service, "--to", f"v1.1.0-{case}")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scaffold: error: "), err
    assert BAD_MIGRATIONS[case][1] in lines[0]
    assert (files(service), files(service / ".git")) == before


def _migrations(text: str) -> list[AnswerMigration]:
    return load_migrations(text, "answer-migrations.yaml")


# Listed out of order: they apply in version order, whatever the file's.
CHAIN = _migrations(
    "- {version: 1.2.0, parameter: tracing, values: {datadog: datadog-apm, none: none}}\n"
    "- {version: 1.1.0, parameter: datadog, renamedTo: tracing, values: {true: datadog, false: none}}\n"
    "- {version: 1.0.0, parameter: apm, renamedTo: datadog}\n"
)


@pytest.mark.parametrize(
    ("recorded_version", "answers", "migrated"),
    [
        ("1.0.0", {"name": "a", "datadog": True}, {"name": "a", "tracing": "datadog-apm"}),
        ("1.1.0", {"name": "a", "tracing": "datadog"}, {"name": "a", "tracing": "datadog-apm"}),
        ("1.2.0", {"name": "a", "tracing": "datadog"}, {"name": "a", "tracing": "datadog"}),
        # Not recorded (the form did not send it): the target's default applies.
        ("1.0.0", {"name": "a"}, {"name": "a"}),
    ],
    ids=["two-releases-in-order", "the-later-release-only", "none-after-the-target", "not-recorded"],
)
def test_migrations_after_the_recorded_version_apply_in_version_order(
    recorded_version: str, answers: dict[str, Any], migrated: dict[str, Any]
) -> None:
    known: dict[str, dict[str, Any]] = {
        "name": {"type": "string"},
        "tracing": {"enum": ["datadog-apm", "none"]},
    }
    assert migrate(CHAIN, recorded_version, answers, known)[0] == migrated


@pytest.mark.parametrize(
    ("recorded_version", "answers", "error"),
    [
        # JSON's true is not YAML's 1, though Python's True == 1.
        ("1.0.0", {"flag": True}, "answer-migrations.yaml:1: the recorded flag true has no entry in values"),
        (
            "1.0.0",
            {"flag": 1, "switch": "on"},
            "answer-migrations.yaml:1: the answers record both flag and switch",
        ),
        ("1.0", {"flag": 1}, "recorded version '1.0' is not major.minor.patch"),
    ],
    ids=["true-is-not-1", "both-names-recorded", "recorded-version-not-semver"],
)
def test_answers_a_migration_cannot_carry_are_refused(
    recorded_version: str, answers: dict[str, Any], error: str
) -> None:
    migrations = _migrations(
        "- {version: 1.1.0, parameter: flag, renamedTo: switch, values: {1: 'on', 0: 'off'}}\n"
    )
    with pytest.raises(AnswerMigrationError) as raised:
        migrate(migrations, recorded_version, answers, {"switch": {"enum": ["on", "off"]}})
    assert str(raised.value).startswith(error)


def _releasing_page_example() -> str:
    page = (ROOT / "docs" / "releasing.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```yaml\n(- version:.*?)```", page, re.DOTALL)
    return str(example)


def _entries(migrations: list[AnswerMigration]) -> list[tuple[Any, ...]]:
    return [(m.version, m.parameter, m.renamed_to, m.values) for m in migrations]


def test_the_template_declares_datadog_becomes_tracing_as_docs_releasing_shows() -> None:
    declared = _migrations((ROOT / MIGRATIONS_FILE).read_text(encoding="utf-8"))
    assert _entries(declared) == [
        ("0.2.0", "datadog", "tracing", ((True, "datadog"), (False, "none"))),
    ]
    assert _entries(_migrations(_releasing_page_example())) == _entries(declared)


def test_the_form_asks_for_what_the_template_s_migrations_leave() -> None:
    """Each declared new name is a parameter of the form, each mapped value one it accepts,
    and each old name gone."""
    known = known_parameters(Template.load(ROOT / "template.yaml"))
    for migration in _migrations((ROOT / MIGRATIONS_FILE).read_text(encoding="utf-8")):
        assert migration.parameter not in known
        schema = known[migration.name]
        for _, value in migration.values or ():
            assert value in schema.get("enum", [value])
