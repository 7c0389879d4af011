"""The `scaffold` command line: render, fetch-template and params, good and bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from oracle import diff_trees
from scaffold.cli import main
from scaffold.fetch_template import FetchTemplateOptions, fetch_template
from scaffold.workflow import TemplateInputError, parse_assignments
from test_fetch_template_fixtures import SKELETONS, VALUES_ON

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"

# Enough for the repository's template.yaml; everything else has a default.
REQUIRED = {
    "name": "orders-api",
    "description": "Orders: the \"source of truth\" for #orders, ünïcode and 'quotes'",
    "owner": "group:default/platform-team",
    "repoUrl": "github.com?owner=acme&repo=orders-api",
}
SET_REQUIRED = [f"--set={key}={value}" for key, value in REQUIRED.items()]


pytestmark = pytest.mark.usefixtures("umask_022")


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def render(capsys: pytest.CaptureFixture[str], output: Path, *extra: str | Path) -> tuple[int, str, str]:
    return run(capsys, "render", "--template", TEMPLATE, "--output", output, *extra)


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("scaffold: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def assert_nothing_written(parent: Path, before: set[str]) -> None:
    """No output folder, no staging folder: the parent holds what it held before."""
    assert {path.name for path in parent.iterdir()} == before


# --------------------------------------------------------------------------- render


def test_render_with_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    code, out, err = render(
        capsys, output, *SET_REQUIRED, "--set", "database=dynamodb", "--set", "tracing=none"
    )
    assert (code, err) == (0, "")
    assert f"rendered into {output}" in out
    assert "step fetchSkeleton (fetch:template): completed" in out
    catalog = next(yaml.safe_load_all((output / "catalog-info.yaml").read_text(encoding="utf-8")))
    assert catalog["metadata"]["name"] == "orders-api"
    assert catalog["metadata"]["description"] == REQUIRED["description"]
    assert not (output / "migrations").exists()  # no Aurora: no Alembic migrations
    assert "ddtrace" not in (output / "pyproject.toml").read_text(encoding="utf-8")
    assert {path.name for path in tmp_path.iterdir()} == {"out"}  # no staging folder left


def test_render_with_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump({**REQUIRED, "database": "aurora-mysql", "orm": "none", "pythonVersion": "3.13"}),
        encoding="utf-8",
    )
    output = tmp_path / "nested" / "out"
    # --set wins over the file.
    code, _, err = render(capsys, output, "--values", values, "--set", "name=billing")
    assert (code, err) == (0, "")
    assert (output / "migrations").is_dir()
    assert (output / "src" / "billing").is_dir()
    assert (output / ".python-version").read_text(encoding="utf-8").startswith("3.13")
    assert 'requires-python = ">=3.13"' in (output / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002], ids=["022", "027", "002"])
def test_output_folder_gets_the_normal_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], umask: int
) -> None:
    """The output folder is made like any new folder (0777 & ~umask), not 0700 like a temp folder."""
    previous = os.umask(umask)
    try:
        output = tmp_path / "out"
        code, _, err = run(
            capsys,
            "fetch-template",
            SKELETONS / "extension",
            "--template-file-extension",
            ".njk",
            "--values",
            _values_file(tmp_path),
            "--output",
            output,
        )
    finally:
        os.umask(previous)
    assert (code, err) == (0, "")
    assert stat.S_IMODE(output.stat().st_mode) == 0o777 & ~umask
    # Folders inside it are made by the renderer, with the same rule.
    assert stat.S_IMODE((output / "demo-svc").stat().st_mode) == 0o777 & ~umask


def test_render_output_folder_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    code, _, err = render(capsys, output, *SET_REQUIRED)
    assert (code, err) == (0, "")
    assert stat.S_IMODE(output.stat().st_mode) == 0o755
    assert stat.S_IMODE((output / "src").stat().st_mode) == 0o755


# --------------------------------------------------------------------------- bad input


def _values(tmp_path: Path, text: str, name: str = "values.yaml") -> Path:
    path = tmp_path / "input" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


BAD_SETS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "unknown-parameter": ([*SET_REQUIRED, "--set", "colour=blue"], ("unknown parameter 'colour'",)),
    "name-pattern": (
        [*SET_REQUIRED, "--set", "name=Orders_API"],
        ("parameter 'name'", "'Orders_API'", "pattern"),
    ),
    "name-too-long": ([*SET_REQUIRED, "--set", "name=" + "a" * 64], ("parameter 'name'", "maxLength")),
    "name-is-a-stdlib-module": (
        [*SET_REQUIRED, "--set", "name=email"],
        ("parameter 'name'", "'email'", "not"),
    ),
    "lifecycle-enum": (
        [*SET_REQUIRED, "--set", "lifecycle=retired"],
        ("parameter 'lifecycle'", "'retired'", "enum"),
    ),
    "python-version-enum": (
        [*SET_REQUIRED, "--set", "pythonVersion=3.10"],
        ("parameter 'pythonVersion'", "'3.10'", "enum"),
    ),
    "database-enum": (
        [*SET_REQUIRED, "--set", "database=mongodb"],
        ("parameter 'database'", "'mongodb'", "enum"),
    ),
    "missing-description": (
        [arg for arg in SET_REQUIRED if not arg.startswith("--set=description=")],
        ("parameter 'description' is required",),
    ),
    "description-with-newline": (
        [*SET_REQUIRED, "--set", "description=two\nlines"],
        ("parameter 'description'", "pattern"),
    ),
    "tracing-not-a-choice": (
        [*SET_REQUIRED, "--set", "tracing=zipkin"],
        ("parameter 'tracing'", "'zipkin'", "enum"),
    ),
    "set-without-equals": ([*SET_REQUIRED, "--set", "name"], ("--set 'name'", "key=value")),
}


@pytest.mark.parametrize("case", list(BAD_SETS))
def test_bad_parameters_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    argv, fragments = BAD_SETS[case]
    output = tmp_path / "out"
    code, out, err = render(capsys, output, *argv)
    assert code == 2
    assert out == ""
    assert_nothing_written(tmp_path, set())
    assert_one_error_line(err, *fragments)


def test_a_boolean_set_is_true_or_false() -> None:
    # template.yaml asks no boolean any more: a schema of the test's own.
    schemas = {"flag": {"type": "boolean"}}
    assert parse_assignments(["flag=true", "other=true"], schemas) == {"flag": True, "other": "true"}
    with pytest.raises(TemplateInputError, match="--set flag: expected true or false, got 'yes'"):
        parse_assignments(["flag=yes"], schemas)


def test_missing_parents_are_not_left_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = render(capsys, tmp_path / "a" / "b" / "out", "--set", "name=orders")
    assert code == 2
    assert_one_error_line(err, "is required")
    assert_nothing_written(tmp_path, set())


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param(
            "name: orders-api\ndescription: [unclosed\nowner: x\n",
            ("values.yaml:3", "malformed YAML"),
            id="unclosed-flow-sequence",
        ),
        pytest.param(
            "name: orders-api\n  owner: bad-indent\n",
            ("values.yaml:2", "malformed YAML"),
            id="bad-indentation",
        ),
        pytest.param('name: "orders-api\n', ("values.yaml:2", "malformed YAML"), id="unclosed-quote"),
        pytest.param("- orders-api\n- billing\n", ("values.yaml", "must contain a mapping"), id="a-list"),
        pytest.param("just a string\n", ("values.yaml", "must contain a mapping"), id="a-string"),
    ],
)
def test_bad_values_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragments: tuple[str, ...]
) -> None:
    values = _values(tmp_path, text)
    code, out, err = render(capsys, tmp_path / "out", "--values", values)
    assert (code, out) == (2, "")
    assert_one_error_line(err, *fragments)
    assert_nothing_written(tmp_path, {"input"})


def test_malformed_json_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = _values(tmp_path, '{\n  "name": "x",\n  oops\n}\n', "values.json")
    code, _, err = render(capsys, tmp_path / "out", "--values", values)
    assert code == 2
    assert_one_error_line(err, "values.json:3", "malformed JSON")
    assert_nothing_written(tmp_path, {"input"})


def test_missing_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = render(capsys, tmp_path / "out", "--values", tmp_path / "nope.yaml")
    assert code == 2
    assert_one_error_line(err, "nope.yaml", "cannot read values file")
    assert_nothing_written(tmp_path, set())


def test_skeleton_that_fails_to_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = _values(tmp_path, json.dumps({"name": "demo", "flag": True}), "values.json")
    output = tmp_path / "out"
    code, out, err = run(
        capsys, "fetch-template", SKELETONS / "error-unterminated-tag", "--values", values, "--output", output
    )
    assert (code, out) == (2, "")
    assert_one_error_line(err, "file.txt", "line 2")
    assert_nothing_written(tmp_path, {"input"})


def test_broken_filter_in_a_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = _values(tmp_path, "name: demo\n")
    code, _, err = run(
        capsys,
        "fetch-template",
        SKELETONS / "error-filter-in-path",
        "--values",
        values,
        "--output",
        tmp_path / "out",
    )
    assert code == 2
    assert_one_error_line(err, "noSuchFilter")
    assert_nothing_written(tmp_path, {"input"})


# --------------------------------------------------------------------------- existing output


def test_non_empty_output_is_refused_then_replaced_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "precious.txt").write_text("keep me\n")
    snapshot = sorted(os.listdir(output))

    code, out, err = render(capsys, output, *SET_REQUIRED)
    assert (code, out) == (2, "")
    assert_one_error_line(err, str(output), "not empty", "--force")
    assert sorted(os.listdir(output)) == snapshot
    assert (output / "precious.txt").read_text() == "keep me\n"
    assert_nothing_written(tmp_path, {"out"})

    code, _, err = render(capsys, output, *SET_REQUIRED, "--force")
    assert (code, err) == (0, "")
    assert (output / "precious.txt").read_text() == "keep me\n"  # --force deletes nothing
    assert (output / "catalog-info.yaml").is_file()
    assert stat.S_IMODE(output.stat().st_mode) == 0o755
    assert_nothing_written(tmp_path, {"out"})


def test_failed_force_keeps_the_old_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "precious.txt").write_text("keep me\n")
    code, _, err = render(capsys, output, *SET_REQUIRED, "--set", "name=Bad_Name", "--force")
    assert code == 2
    assert_one_error_line(err, "parameter 'name'")
    assert os.listdir(output) == ["precious.txt"]
    assert_nothing_written(tmp_path, {"out"})


def test_empty_output_folder_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    output.mkdir()
    code, _, err = render(capsys, output, *SET_REQUIRED)
    assert (code, err) == (0, "")
    assert (output / "catalog-info.yaml").is_file()


def test_output_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out"
    output.write_text("a file\n")
    code, _, err = render(capsys, output, *SET_REQUIRED, "--force")
    assert code == 2
    assert_one_error_line(err, "not a folder")
    assert output.read_text() == "a file\n"


# --------------------------------------------------------------------------- params


def _template_parameters() -> dict[str, tuple[dict[str, Any], bool]]:
    """Every parameter of template.yaml (conditional ones too), with whether it is required."""
    document = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    parameters: dict[str, tuple[dict[str, Any], bool]] = {}
    for page in document["spec"]["parameters"]:
        required = set(page.get("required") or [])
        for name, schema in (page.get("properties") or {}).items():
            parameters[name] = (schema, name in required)
        for dependency in (page.get("dependencies") or {}).values():
            for branch in dependency.get("oneOf") or []:
                for name, schema in (branch.get("properties") or {}).items():
                    if name not in parameters:
                        parameters[name] = (schema, False)
    return parameters


def test_params_lists_every_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "params", "--template", TEMPLATE)
    assert (code, err) == (0, "")
    lines = {line.split(":", 1)[0]: line for line in out.splitlines() if not line.startswith(("#", " "))}
    parameters = _template_parameters()
    assert set(lines) == set(parameters)
    for name, (schema, required) in parameters.items():
        line = lines[name]
        assert f"type={schema['type']}" in line
        assert schema["title"] in line
        assert ("required" in line.split("(", 1)[1]) == required, line
        if "default" in schema:
            assert f"default={json.dumps(schema['default'])}" in line
        else:
            assert "default=" not in line
        if "enum" in schema:
            assert "allowed=" + "|".join(str(option) for option in schema["enum"]) in line
        else:
            assert "allowed=" not in line
    document = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert [line for line in out.splitlines() if line.startswith("# ")] == [
        f"# {page['title']}" for page in document["spec"]["parameters"]
    ]


def _params_block(out: str, name: str) -> list[str]:
    """The line of one parameter and the indented lines under it."""
    lines = out.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(f"{name}: "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return block


def test_params_shows_option_labels_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Each option with the label the form shows, and the field's help, as in the form."""
    code, out, _ = run(capsys, "params", "--template", TEMPLATE)
    assert code == 0
    for name, (schema, _) in _template_parameters().items():
        labels = (
            []
            if "enumNames" not in schema
            else [
                f"{option}: {label}"
                for option, label in zip(schema["enum"], schema["enumNames"], strict=True)
            ]
        )
        helps = [" ".join(schema["ui:help"].split())] if "ui:help" in schema else []
        assert _params_block(out, name)[1:] == labels + helps, name
    assert "none: SQLAlchemy Core only" in "\n".join(_params_block(out, "orm"))


def test_repo_url_help_shows_the_typed_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The help names the github.com?owner=...&repo=... value, and its example renders."""
    code, out, _ = run(capsys, "params", "--template", TEMPLATE)
    assert code == 0
    help_line = _params_block(out, "repoUrl")[-1]
    assert "github.com?owner=<account>&repo=<repository>" in help_line
    example = help_line.rsplit("e.g. ", 1)[1].rstrip(".")
    assert example == "github.com?owner=acme&repo=orders-api"
    required = [arg for arg in SET_REQUIRED if not arg.startswith("--set=repoUrl=")]
    code, _, err = render(capsys, tmp_path / "out", *required, "--set", f"repoUrl={example}")
    assert (code, err) == (0, "")


def test_render_prints_only_links_that_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A dry run creates no repository and no catalog entity: no link to either."""
    code, out, _ = render(capsys, tmp_path / "out", *SET_REQUIRED)
    assert code == 0
    links = [line for line in out.splitlines() if line.startswith("link: ")]
    assert links == ["link: Documentation: /docs/default/component/orders-api"]


PATTERN_ERRORS = {
    "underscore": ("name=ord_ers", "'name'", "character 4 ('_') is not allowed there", "Lowercase letters"),
    "capital": ("name=Orders-api", "'name'", "character 1 ('O') is not allowed there", "Lowercase letters"),
    "double-hyphen": (
        "name=orders--api",
        "'name'",
        "character 8 ('-') is not allowed there",
        "single hyphens",
    ),
    "trailing-hyphen": ("name=orders-", "'name'", "it cannot end with character 7 ('-')", "single hyphens"),
    "newline": (
        "description=two\nlines",
        "'description'",
        "character 4 ('\\n') is not allowed",
        "Line breaks",
    ),
    "list-marker": ("description=1. First", "'description'", "character 3 (' ') is not allowed", "1. "),
    "template-marker": ("description=a {{ x }}", "'description'", "character 4 ('{') is not allowed", '"{{"'),
    "html-tag": ("description=see <b>this</b>", "'description'", "character 6 ('b') is not allowed", "HTML"),
    "trailing-space": (
        "description=ends with a space ",
        "'description'",
        "cannot end with character 18 (' ')",
        "visible",
    ),
    "owner": (
        "owner=group:default/platform team",
        "'owner'",
        "character 23 (' ') is not allowed",
        "entity reference",
    ),
    "repo-url": (
        "repoUrl=acme/orders-api",
        "'repoUrl'",
        "character 1 ('a') is not allowed",
        "github.com?owner=",
    ),
}


@pytest.mark.parametrize("case", list(PATTERN_ERRORS))
def test_pattern_error_names_the_character_not_the_regex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    assignment, *fragments = PATTERN_ERRORS[case]
    name = assignment.split("=", 1)[0]
    required = [arg for arg in SET_REQUIRED if not arg.startswith(f"--set={name}=")]
    code, _, err = render(capsys, tmp_path / "out", *required, "--set", assignment)
    assert code == 2
    assert_one_error_line(err, "breaks the pattern rule", *fragments)
    pattern = _template_parameters()[name][0]["pattern"]
    assert pattern not in err
    assert "(?" not in err
    assert "[^" not in err


# --------------------------------------------------------------------------- fetch-template


def _values_file(tmp_path: Path) -> Path:
    path = tmp_path / "values.json"
    path.write_text(json.dumps(VALUES_ON), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("skeleton", "flags", "options"),
    [
        pytest.param("basic", [], FetchTemplateOptions(), id="defaults"),
        pytest.param(
            "basic",
            ["--copy-without-templating", ".github/workflows/*", "--copy-without-templating", "**/*.json"],
            FetchTemplateOptions(copy_without_templating=[".github/workflows/*", "**/*.json"]),
            id="copy-without-templating",
        ),
        pytest.param(
            "basic",
            ["--trim-blocks", "--lstrip-blocks"],
            FetchTemplateOptions(trim_blocks=True, lstrip_blocks=True),
            id="trim-lstrip",
        ),
        pytest.param("basic", ["--trim-blocks"], FetchTemplateOptions(trim_blocks=True), id="trim"),
        pytest.param("basic", ["--lstrip-blocks"], FetchTemplateOptions(lstrip_blocks=True), id="lstrip"),
        pytest.param(
            "basic",
            ["--target-path", "sub/dir"],
            FetchTemplateOptions(target_path="sub/dir"),
            id="target-path",
        ),
        pytest.param(
            "extension",
            ["--template-file-extension", ".njk"],
            FetchTemplateOptions(template_file_extension=True),
            id="extension-njk",
        ),
        pytest.param(
            "extension",
            ["--template-file-extension", "tmpl"],
            FetchTemplateOptions(template_file_extension=".tmpl"),
            id="extension-tmpl",
        ),
    ],
)
def test_fetch_template_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    skeleton: str,
    flags: list[str],
    options: FetchTemplateOptions,
) -> None:
    """The CLI passes its flags through: same tree as the action called directly."""
    output = tmp_path / "out"
    code, out, err = run(
        capsys,
        "fetch-template",
        SKELETONS / skeleton,
        "--values",
        _values_file(tmp_path),
        "--output",
        output,
        *flags,
    )
    assert (code, err) == (0, "")
    assert out.startswith("wrote ")
    expected = tmp_path / "expected"
    expected.mkdir()
    fetch_template(SKELETONS / skeleton, expected, VALUES_ON, options)
    assert diff_trees(expected, output, a_name="fetch_template", b_name="cli") == []
    # And the flags did change something.
    if flags and skeleton == "basic":
        plain = tmp_path / "plain"
        plain.mkdir()
        fetch_template(SKELETONS / skeleton, plain, VALUES_ON)
        assert diff_trees(plain, output) != []


def test_fetch_template_extension_with_copy_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = _values_file(tmp_path)
    code, _, err = run(
        capsys,
        "fetch-template",
        SKELETONS / "extension",
        "--values",
        values,
        "--output",
        tmp_path / "out",
        "--template-file-extension",
        ".njk",
        "--copy-without-templating",
        "*.txt",
    )
    assert code == 2
    assert_one_error_line(err, "extension incompatible with copyWithoutTemplating")
    assert_nothing_written(tmp_path, {"values.json"})


# --------------------------------------------------------------------------- the console script


def test_console_script(tmp_path: Path) -> None:
    """The installed `scaffold` entry point works from any folder (template.yaml of the repo)."""
    script = Path(sys.executable).parent / "scaffold"
    assert script.is_file(), "the console script is not installed: run `uv sync`"
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(REQUIRED, allow_unicode=True), encoding="utf-8")
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [script, "render", "--values", values, "--output", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "rendered into out" in done.stdout
    assert (tmp_path / "out" / "catalog-info.yaml").is_file()

    refused = subprocess.run(
        [sys.executable, "-m", "scaffold", "render", "--values", values, "--output", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert_one_error_line(refused.stderr, "not empty")
