"""Small fixture skeletons rendered by scaffold and by Backstage's own fetch:template.

Every case of the table below is rendered twice into separate workspaces: by Backstage
4.2.0's real action (through the Node oracle, all cases in one batch) and by
`scaffold.fetch_template.fetch_template`. The trees must be identical: paths, bytes,
symlink targets, executable bits and full permission modes. Cases that Backstage refuses
must fail in scaffold too.

The skeletons live in tests/fixtures/skeletons/ and exercise one fetch:template rule each
(see the file names there); both sides run under umask 022.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from oracle import FetchJob, FetchOptions, FetchResult, diff_trees, fetch_template_batch, snapshot_tree
from scaffold.fetch_template import FetchTemplateError, FetchTemplateOptions, fetch_template

SKELETONS = Path(__file__).resolve().parent / "fixtures" / "skeletons"

DESCRIPTION = (
    'Orders: the "source of truth" for #orders, it\'s fast\n'
    "second line: - item, [a, b], {k: v}, *ref, &anchor, !tag, | > % @ `tick` ~ ? ,\n"
    "back\\slash\ttab, ünïcødé ✓ 🚀 日本語, ${{ not rendered }} {% raw %} "
    '\'\'\'single\'\'\' """triple""" = [toml] key = "v" \\u0041 null true 0x1F'
)
# Control characters, a line separator and a lone surrogate: JSON.stringify escapes
# some of these and not others, and Node writes the surrogate as U+FFFD.
TRICKY = "ctl\x01\x1f del\x7f sep\u2028par\u2029 lone\ud800 nul\x00 end"

VALUES_ON: dict[str, Any] = {
    "name": "demo-svc",
    "description": DESCRIPTION,
    "tricky": TRICKY,
    "owner": "group:default/platform-team",
    "repoUrl": "github.com?owner=acme&repo=demo-svc",
    "packagePath": "src/deep/pkg",
    "nested": "a/b",
    "unicodeName": "ünïcødé-文档",
    "empty": "",
    "prefix": "/",
    "flag": True,
    "count": 3,
    "ratio": 1.0,
    "tags": ["api", "ünïcode", "with: colon", 'with "quote"', "# hash"],
    "meta": {"team": {"lead": "Zoë O'Brien: lead"}, "tier": 1},
    "nothing": None,
    "ext": ".njk",
}
VALUES_OFF: dict[str, Any] = {
    **VALUES_ON,
    "name": "straße-ü",
    "owner": "user:jane.doe",
    "repoUrl": "github.com?owner=Some-Org&repo=straße",
    "packagePath": "lib",
    "nested": "flat",
    "prefix": "p-",
    "flag": False,
    "count": 0,
    "ratio": 2.5,
    "tags": [],
    "meta": {"team": {}},
}


def _prepopulate(workspace: Path) -> None:
    """An earlier render's leftovers, to test `replace` (identical on both sides)."""
    (workspace / "keep").mkdir(parents=True)
    (workspace / "keep" / "old.txt").write_text("old, not in the skeleton\n")
    (workspace / "README.md").write_text("old readme\n")
    (workspace / "README.md").chmod(0o600)
    (workspace / "run.sh").write_text("old script, not executable\n")
    (workspace / "run.sh").chmod(0o644)
    (workspace / "assets").mkdir()
    (workspace / "assets" / "logo.png").write_bytes(b"old logo")
    (workspace / "assets" / "logo.png").chmod(0o600)
    (workspace / "assets" / "link-to-logo.png").symlink_to("logo.png")
    (workspace / "empty.txt").write_text("not empty yet\n")


def _prepopulate_links(workspace: Path) -> None:
    """Symlinks where the skeleton writes a binary file and a text file."""
    (workspace / "assets").mkdir(parents=True)
    (workspace / "elsewhere.png").write_bytes(b"the link's target")
    (workspace / "assets" / "logo.png").symlink_to("../elsewhere.png")
    (workspace / "notes.sh").symlink_to("made-through-dangling-link.sh")
    (workspace / "readme-target.md").write_text("target of README.md\n")
    (workspace / "README.md").symlink_to("readme-target.md")


def _prepopulate_file_at_link(workspace: Path) -> None:
    (workspace / "link-to-readme.md").write_text("a regular file where the skeleton has a symlink\n")


def _prepopulate_folder_at_file(workspace: Path) -> None:
    (workspace / "empty.txt").mkdir()
    (workspace / "empty.txt" / "inside").write_text("a folder where the skeleton has a file\n")


@dataclass(frozen=True)
class Case:
    id: str
    skeleton: str
    values: Mapping[str, Any] = field(default_factory=lambda: VALUES_ON)
    options: FetchOptions = field(default_factory=FetchOptions)
    prepare: Callable[[Path], None] | None = None

    def param(self) -> Any:
        return pytest.param(self.id, id=self.id)


CASES: list[Case] = [
    Case("basic", "basic"),
    Case("basic-flag-off", "basic", VALUES_OFF),
    Case("basic-trim-blocks", "basic", options={"trimBlocks": True}),
    Case("basic-lstrip-blocks", "basic", options={"lstripBlocks": True}),
    Case("basic-trim-lstrip", "basic", options={"trimBlocks": True, "lstripBlocks": True}),
    Case("basic-trim-lstrip-off", "basic", VALUES_OFF, {"trimBlocks": True, "lstripBlocks": True}),
    Case("basic-copy-workflows", "basic", options={"copyWithoutTemplating": [".github/workflows/*"]}),
    Case("basic-copy-all-yml", "basic", options={"copyWithoutTemplating": ["**/*.yml"]}),
    Case(
        "basic-copy-braces",
        "basic",
        options={"copyWithoutTemplating": [".github/**", "config.{json,yaml}", "assets/*.txt"]},
    ),
    Case("basic-copy-empty-list", "basic", options={"copyWithoutTemplating": []}),
    Case(
        "basic-copy-without-render-ignored", "basic", options={"copyWithoutRender": [".github/workflows/*"]}
    ),
    Case("basic-target-path", "basic", options={"targetPath": "./sub/dir"}),
    Case("basic-target-path-dotdot-inside", "basic", options={"targetPath": "sub/../inner"}),
    Case("basic-existing-kept", "basic", prepare=_prepopulate),
    Case("basic-existing-replaced", "basic", options={"replace": True}, prepare=_prepopulate),
    Case(
        "basic-existing-links-kept",
        "basic",
        prepare=_prepopulate_links,
    ),
    Case(
        "basic-existing-links-replaced",
        "basic",
        options={"replace": True},
        prepare=_prepopulate_links,
    ),
    Case("extension-njk", "extension", options={"templateFileExtension": True}),
    Case("extension-njk-off", "extension", VALUES_OFF, {"templateFileExtension": True, "trimBlocks": True}),
    Case("extension-tmpl", "extension", options={"templateFileExtension": ".tmpl"}),
    Case("extension-tmpl-no-dot", "extension", options={"templateFileExtension": "tmpl"}),
    Case("extension-plain-skeleton", "basic", options={"templateFileExtension": True}),
]

ERROR_CASES: list[Case] = [
    Case("undefined-filter", "error-undefined-filter"),
    Case("unterminated-tag", "error-unterminated-tag"),
    Case("unclosed-block", "error-unclosed-block"),
    Case("stray-comment-end", "error-stray-comment-end"),
    Case("undefined-function", "error-undefined-function"),
    Case("filter-in-path", "error-filter-in-path"),
    Case("target-path-escapes", "basic", options={"targetPath": "../escape"}),
    Case(
        "extension-with-copy-without-templating",
        "extension",
        options={"templateFileExtension": True, "copyWithoutTemplating": [".github/workflows/*"]},
    ),
    Case(
        "copy-without-templating-not-a-list",
        "basic",
        options=cast(FetchOptions, {"copyWithoutTemplating": ".github/workflows/*"}),
    ),
    Case("unconfigured-repo-host", "basic", {**VALUES_ON, "repoUrl": "gitlab.example.com?owner=a&repo=b"}),
    # templateFileExtension: false renders every file, and plain.txt is not a valid template.
    Case("extension-false-renders-everything", "extension", options={"templateFileExtension": False}),
    Case(
        "replace-file-with-symlink",
        "basic",
        options={"replace": True},
        prepare=_prepopulate_file_at_link,
    ),
    Case(
        "replace-folder-with-file",
        "basic",
        options={"replace": True},
        prepare=_prepopulate_folder_at_file,
    ),
]


@dataclass(frozen=True)
class Outcome:
    case: Case
    backstage: FetchResult
    backstage_root: Path
    python_root: Path
    python_error: Exception | None

    @property
    def backstage_workspace(self) -> Path:
        return self.backstage_root / "workspace"

    @property
    def python_workspace(self) -> Path:
        return self.python_root / "workspace"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, umask_022: None) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("fixtures")
    jobs: list[FetchJob] = []
    python_errors: dict[str, Exception | None] = {}
    for case in [*CASES, *ERROR_CASES]:
        for side in ("backstage", "python"):
            workspace = root / side / case.id / "workspace"
            workspace.mkdir(parents=True)
            if case.prepare is not None:
                case.prepare(workspace)
        jobs.append(
            FetchJob(
                case.id,
                SKELETONS / case.skeleton,
                root / "backstage" / case.id / "workspace",
                case.values,
                case.options,
            )
        )
        try:
            options = FetchTemplateOptions.from_input(case.options)
            fetch_template(
                SKELETONS / case.skeleton, root / "python" / case.id / "workspace", case.values, options
            )
        except Exception as error:  # the tests check which kind it is
            python_errors[case.id] = error
        else:
            python_errors[case.id] = None
    results = fetch_template_batch(jobs)
    return {
        case.id: Outcome(
            case, result, root / "backstage" / case.id, root / "python" / case.id, python_errors[case.id]
        )
        for case, result in zip([*CASES, *ERROR_CASES], results, strict=True)
    }


def _modes(root: Path) -> dict[str, str]:
    """Permission bits of every file and folder below root (symlinks have none of their own)."""
    modes: dict[str, str] = {}
    for directory, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(directory, name)
            status = path.lstat()
            if not stat.S_ISLNK(status.st_mode):
                modes[path.relative_to(root).as_posix()] = oct(stat.S_IMODE(status.st_mode))
    return modes


@pytest.mark.parametrize("case_id", [case.param() for case in CASES])
def test_renders_like_backstage(outcomes: dict[str, Outcome], case_id: str) -> None:
    outcome = outcomes[case_id]
    assert outcome.backstage.ok, f"Backstage failed: {outcome.backstage.error} ({outcome.backstage.last_log})"
    assert outcome.python_error is None, f"scaffold failed: {outcome.python_error!r}"
    differences = diff_trees(
        outcome.backstage_root, outcome.python_root, a_name="backstage", b_name="scaffold"
    )
    assert not differences, "\n".join(differences)
    backstage_modes, python_modes = _modes(outcome.backstage_root), _modes(outcome.python_root)
    assert backstage_modes == python_modes, {
        path: (backstage_modes.get(path), python_modes.get(path))
        for path in backstage_modes.keys() | python_modes.keys()
        if backstage_modes.get(path) != python_modes.get(path)
    }


@pytest.mark.parametrize("case_id", [case.param() for case in ERROR_CASES])
def test_fails_like_backstage(outcomes: dict[str, Outcome], case_id: str) -> None:
    outcome = outcomes[case_id]
    assert not outcome.backstage.ok, "Backstage rendered this case; it is expected to fail"
    assert outcome.python_error is not None, "scaffold rendered a case that Backstage refuses"
    # The CLI reports FetchTemplateError as one line with exit code 2; anything else is a crash.
    assert isinstance(outcome.python_error, FetchTemplateError), repr(outcome.python_error)
    # Nothing may land beside the workspace (targetPath "../escape").
    assert sorted(path.name for path in outcome.backstage_root.iterdir()) == ["workspace"]
    assert sorted(path.name for path in outcome.python_root.iterdir()) == ["workspace"]


# --------------------------------------------------------------------------- the fixtures do what they claim
# The comparisons above would pass if both sides skipped everything: pin down, on
# Backstage's output, that each rule was really exercised.


def _tree(outcomes: dict[str, Outcome], case_id: str, under: str = "") -> dict[str, Any]:
    outcome = outcomes[case_id]
    assert outcome.backstage.ok, outcome.backstage.error
    return snapshot_tree(outcome.backstage_workspace / under)


def _text(tree: Mapping[str, Any], path: str) -> str:
    kind, data, _ = tree[path]
    assert kind == "file"
    assert isinstance(data, bytes)
    return data.decode("utf-8")


def test_fixture_paths_and_file_kinds(outcomes: dict[str, Outcome]) -> None:
    tree = _tree(outcomes, "basic")
    assert "demo-svc/demo_svc.py" in tree
    assert "src/deep/pkg/module.py" in tree  # a value with "/" creates nested folders
    assert "a/b.txt" in tree
    assert "ünïcødé-文档.md" in tree
    assert {"optional.txt", "optional/inside.txt", "optional/deeper/more.txt"} <= tree.keys()
    assert not any("dropped" in path for path in tree)  # "keep//..." and "/..." paths are skipped
    assert "keep/-not-empty.txt" in tree
    assert "prefixed.txt" not in tree
    assert tree["run.sh"][2] is True
    assert tree["scripts/demo-svc-tool.sh"][2] is True
    assert tree["notes.sh"][2] is False
    assert tree["empty.txt"] == ("file", b"", False)
    assert tree["link-to-readme.md"] == ("symlink", "README.md", False)
    assert tree["demo-svc-link.sh"] == ("symlink", "run.sh", False)
    assert tree["linked-dir"] == ("symlink", "keep", False)
    assert tree["dangling-link"] == ("symlink", "does-not-exist", False)
    skeleton = SKELETONS / "basic"
    assert tree["assets/logo.png"][1] == (skeleton / "assets/logo.png").read_bytes()
    assert (
        tree["assets/data-demo-svc.bin"][1] == (skeleton / "assets/data-${{ values.name }}.bin").read_bytes()
    )
    assert tree["assets/tool.bin"][2] is True
    assert _text(tree, "bom.txt") == "\ufeffBOM file for demo-svc\n"
    assert "\r\n  - api\r\n" in _text(tree, "crlf.txt")
    assert "demo-svc" in _text(tree, "assets/late-nul.txt")  # a NUL after byte 515 is text

    off = _tree(outcomes, "basic-flag-off")
    assert not any(path.startswith("optional") for path in off)
    assert "p-prefixed.txt" in off
    assert "lib/module.py" in off
    assert "straße-ü/straße_ü.py" in off


def test_fixture_github_expressions(outcomes: dict[str, Outcome]) -> None:
    rendered = _tree(outcomes, "basic")
    assert "ref: \n" in _text(rendered, ".github/workflows/ci.yml")  # Backstage empties ${{ github.sha }}
    assert _text(rendered, "escapes.yml").splitlines() == [
        "raw: ${{ github.sha }} and {% if %} stay",
        "expr: ${{ github.sha }}",
        "mixed: demo-svc-${{ matrix.python }}",
    ]
    copied = _tree(outcomes, "basic-copy-workflows")
    source = SKELETONS / "basic" / ".github" / "workflows"
    assert _text(copied, ".github/workflows/ci.yml") == (source / "ci.yml").read_text()
    assert ".github/workflows/demo-svc-release.yml" in copied  # the name is still rendered
    assert "demo-svc" in _text(copied, ".github/dependabot.yml")
    every_yml = _tree(outcomes, "basic-copy-all-yml")
    assert "${{ values.name }}" in _text(every_yml, ".github/dependabot.yml")
    assert "{% raw %}" in _text(every_yml, "escapes.yml")
    assert "${{ values" not in _text(every_yml, "config.yaml")
    braces = _tree(outcomes, "basic-copy-braces")
    assert "${{ values.name | dump }}" in _text(braces, "config.json")
    ignored = _tree(outcomes, "basic-copy-without-render-ignored")
    assert "ref: \n" in _text(ignored, ".github/workflows/ci.yml")


def test_fixture_whitespace_options(outcomes: dict[str, Outcome]) -> None:
    plain = _text(_tree(outcomes, "basic"), "whitespace.txt")
    trimmed = _text(_tree(outcomes, "basic-trim-blocks"), "whitespace.txt")
    stripped = _text(_tree(outcomes, "basic-lstrip-blocks"), "whitespace.txt")
    both = _text(_tree(outcomes, "basic-trim-lstrip"), "whitespace.txt")
    assert len({plain, trimmed, stripped, both}) == 4
    assert "start\n\n    flagged\n" in plain
    assert "start\n    flagged\n" in both
    assert "shout=DEMO-SVC" in plain
    assert "{#" not in plain
    assert "glued-left" in plain


def test_fixture_targets_and_replace(outcomes: dict[str, Outcome]) -> None:
    assert sorted(_tree(outcomes, "basic-target-path")) == sorted(
        ["sub", "sub/dir", *(f"sub/dir/{path}" for path in _tree(outcomes, "basic"))]
    )
    assert "inner/README.md" in _tree(outcomes, "basic-target-path-dotdot-inside")
    kept = _tree(outcomes, "basic-existing-kept")
    assert _text(kept, "README.md") == "old readme\n"
    assert kept["assets/logo.png"][1] == b"old logo"
    assert _text(kept, "keep/old.txt") == "old, not in the skeleton\n"
    assert "keep/kept.txt" in kept
    replaced = _tree(outcomes, "basic-existing-replaced")
    assert _text(replaced, "README.md").startswith("# demo-svc\n")
    assert replaced["run.sh"][2] is False  # an existing file keeps its mode
    assert replaced["empty.txt"] == ("file", b"", False)
    assert _text(replaced, "keep/old.txt") == "old, not in the skeleton\n"


def test_fixture_template_file_extension(outcomes: dict[str, Outcome]) -> None:
    njk = _tree(outcomes, "extension-njk")
    assert _text(njk, "README.md").startswith("# demo-svc\n")
    assert _text(njk, "plain.txt") == "copied as is: ${{ values.name }} {% if %}\n"
    assert _text(njk, "demo-svc.cfg") == "name stays raw: ${{ values.name }}\n"
    assert "settings.yaml.tmpl" in njk
    assert _text(njk, "demo-svc/module.py") == 'NAME = "demo-svc"\n'
    assert _text(njk, "double.njk").endswith("demo-svc\n")
    assert _text(njk, "workflow.yml") == "sha: ${{ github.sha }} for demo-svc\n"
    assert njk["script.sh"][2] is True
    assert "image.png" in njk
    assert "gone" in njk
    assert "" not in njk
    assert "gone" not in _tree(outcomes, "extension-njk-off")
    tmpl = _tree(outcomes, "extension-tmpl")
    assert _text(tmpl, "settings.yaml") == 'name: "demo-svc"\n'
    assert _text(tmpl, "README.md.njk").startswith("# ${{ values.name }}")
    assert _tree(outcomes, "extension-tmpl-no-dot") == tmpl
    # A skeleton without .njk files: nothing is rendered, names still are.
    plain = _tree(outcomes, "extension-plain-skeleton")
    assert _text(plain, "demo-svc/__init__.py") == '"""The ${{ values.name }} package."""\n'


def test_dump_writes_valid_data_files(outcomes: dict[str, Outcome]) -> None:
    """`| dump` makes free text safe in YAML, JSON and TOML (checked on scaffold's output)."""
    workspace = outcomes["basic"].python_workspace
    as_yaml = yaml.safe_load((workspace / "config.yaml").read_text(encoding="utf-8"))
    as_json = json.loads((workspace / "config.json").read_text(encoding="utf-8"))
    as_toml = tomllib.loads((workspace / "pyproject.toml").read_text(encoding="utf-8"))
    assert (
        as_yaml["description"] == as_json["description"] == as_toml["project"]["description"] == DESCRIPTION
    )
    assert as_yaml["tags"] == as_toml["project"]["keywords"] == VALUES_ON["tags"]
    assert as_yaml["meta"] == as_json["meta"] == VALUES_ON["meta"]
    assert as_json["tricky"] == TRICKY  # JSON.stringify escapes the lone surrogate
    assert as_json["ratio"] == 1
