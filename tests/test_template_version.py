"""The template's identity and version, as every generated service records them.

The version lives in template.yaml (the fetch step's `templateVersion`, which services
record) and in pyproject.toml (the `scaffold` package that `uvx --from git+...@v<version>`
installs); the two agree, and CHANGELOG.md has an entry for it. Every render commits
`.template-answers.json` with the template's git URL, that version and every submitted
parameter, which `scaffold update` reads to render the template again.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from scaffold.workflow import Template, known_parameters, run_template
from template_matrix import BASE_VALUES, TEMPLATE_PATH

ROOT = TEMPLATE_PATH.parent
ANSWERS = ".template-answers.json"
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


def _fetch_values() -> dict[str, Any]:
    document = yaml.safe_load(TEMPLATE_PATH.read_text(encoding="utf-8"))
    (step,) = (step for step in document["spec"]["steps"] if step["action"] == "fetch:template")
    values: dict[str, Any] = step["input"]["values"]
    return values


def _version() -> str:
    version: str = _fetch_values()["templateVersion"]
    return version


def test_template_yaml_pyproject_and_lock_name_one_version() -> None:
    version = _version()
    assert SEMVER.fullmatch(version), f"templateVersion {version!r} is not major.minor.patch"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == version, "bump pyproject.toml with template.yaml"
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (locked,) = (package for package in lock["package"] if package["name"] == pyproject["project"]["name"])
    assert locked["version"] == version, "run `uv lock` after bumping the version"


def test_the_changelog_has_an_unreleased_section_and_this_version_s_entry() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", changelog, re.MULTILINE)
    assert headings[0] == "[Unreleased]"
    releases = [re.fullmatch(r"\[([^]]+)\] - (\d{4}-\d{2}-\d{2})", heading) for heading in headings[1:]]
    assert all(releases), f"a release heading reads '## [x.y.z] - YYYY-MM-DD': {headings[1:]}"
    versions = [match[1] for match in releases if match]
    assert versions[0] == _version(), "the newest changelog entry is the version in template.yaml"
    ordered = sorted(versions, key=lambda version: tuple(map(int, version.split("."))), reverse=True)
    assert versions == ordered


def test_the_template_source_is_one_https_git_url() -> None:
    source = _fetch_values()["templateSource"]
    parts = urlsplit(source)
    assert parts.scheme == "https"
    assert parts.netloc
    assert parts.path.endswith(".git")
    # Named in template.yaml only: every other place reads it from a service's answers file.
    mentions = [
        path.relative_to(ROOT).as_posix()
        for path in [*ROOT.glob("*.yaml"), *ROOT.glob("*.md"), *(ROOT / "skeleton").rglob("*")]
        if path.is_file() and source in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert mentions == ["template.yaml"]


def test_every_parameter_is_recorded_as_submitted() -> None:
    answers = _fetch_values()["templateAnswers"]
    assert set(answers) == set(known_parameters(Template.load(TEMPLATE_PATH)))
    assert answers == {name: f"${{{{ parameters.{name} }}}}" for name in answers}


@pytest.mark.parametrize(
    "submitted",
    [
        {**BASE_VALUES, "system": "payments", "tracing": "none"},
        # No orm: the form asks for it only with an Aurora database.
        {**BASE_VALUES, "database": "dynamodb"},
        {**BASE_VALUES, "description": 'Quotes " and \\ backslashes, ünïcode 漢字 😀, ${dollar} {braces}'},
    ],
    ids=["system", "dynamodb", "free-text"],
)
def test_a_render_commits_its_answers(submitted: dict[str, Any], tmp_path: Path) -> None:
    result = run_template(Template.load(TEMPLATE_PATH), submitted, tmp_path)
    text = (tmp_path / ANSWERS).read_text(encoding="utf-8")
    assert json.loads(text) == {
        "template": _fetch_values()["templateSource"],
        "version": _version(),
        "parameters": result.parameters,
    }
    assert result.parameters.items() >= submitted.items()
    assert ("orm" in result.parameters) == (submitted.get("database", "aurora-postgresql") != "dynamodb")
    assert text.endswith("}\n")
