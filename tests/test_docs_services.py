"""The TechDocs of generated services describe exactly their variant, and build.

Every combination of the choices that shape the docs (database and data access, cache,
task queue, auth, tracing) is rendered; Python version, lifecycle and system rotate over
them. For each rendered service:

- ``docs/configuration.md`` lists exactly the fields of its ``Settings`` class, each with
  its environment variable, its default (parsed back through ``Settings``, so ``30`` must
  read as the default 30.0), every allowed value of a ``Literal`` and whether it is a secret.
  The class is imported from the rendered code, with pydantic-settings from a service
  installed by uv.
- Every code block is an excerpt of the service's own files or a shell block whose
  ``make`` targets, ``uv run`` tools and ``python -m`` modules exist in that service.
- ``mkdocs build --strict`` with the pinned techdocs-core passes for every distinct docs
  set, and the built site has no broken internal link.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from docs_checks import (
    broken_links,
    build_site,
    code_blocks,
    data_problem,
    excerpt_problem,
    marked_path,
    shell_commands,
    shell_syntax_problem,
)
from scaffold.workflow import Template, TemplateInputError, resolve_parameters, run_template
from template_matrix import TEMPLATE_PATH, all_combinations, combination_id

SHAPING = ("database", "orm", "cache", "taskQueue", "auth", "tracing")
ROTATED = ("pythonVersion", "lifecycle", "events")
# Tools a service's docs may call that are not Python dependencies of the service.
EXTERNAL_TOOLS = {"aws", "curl", "docker", "git", "kubectl", "kustomize", "redis-cli", "cp"}
# `scaffold update`'s options, as the template promises them to its services, and whether
# each takes a value.
UPDATE_OPTIONS = {"--template": True, "--to": True, "--set": True, "--dry-run": False}
# The release a docs example updates to, as a shell variable the reader sets.
VERSION_VARIABLE = "$VERSION"
ROW = re.compile(r"^\| `(?P<variable>[A-Z0-9_]+)` \| (?P<default>[^|]*) \| (?P<meaning>.*) \|$")


def _variants() -> list[dict[str, Any]]:
    by_shape: dict[tuple[Any, ...], dict[tuple[Any, ...], dict[str, Any]]] = {}
    for values in all_combinations(Template.load(TEMPLATE_PATH)):
        shape = tuple(values.get(key, "none") for key in SHAPING)
        by_shape.setdefault(shape, {})[tuple(values[key] for key in ROTATED)] = values
    rotation = sorted(next(iter(by_shape.values())), key=str)
    variants = []
    for index, shape in enumerate(sorted(by_shape, key=str)):
        values = dict(by_shape[shape][rotation[index % len(rotation)]])
        if index % 2:
            values["system"] = "payments"
        variants.append(values)
    return variants


VARIANTS = _variants()


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], Path]]:
    """Each variant rendered, with the values its skeleton saw."""
    template = Template.load(TEMPLATE_PATH)
    root = tmp_path_factory.mktemp("services")
    rendered = {}
    for values in VARIANTS:
        workspace = root / combination_id(values)
        workspace.mkdir()
        result = run_template(template, values, workspace)
        (step,) = (step for step in result.steps if step.id == "fetchSkeleton")
        assert isinstance(step.input, dict)
        rendered[combination_id(values)] = (step.input["values"], workspace)
    return rendered


def test_variants_cover_every_choice_that_shapes_the_docs() -> None:
    def choices(submissions: list[dict[str, Any]]) -> set[tuple[str, Any]]:
        return {(key, values.get(key)) for values in submissions for key in SHAPING + ROTATED}

    assert choices(VARIANTS) == choices(list(all_combinations()))
    shapes = {tuple(values.get(key) for key in SHAPING) for values in VARIANTS}
    assert len(shapes) == len(VARIANTS) >= 100


# --- Settings ---------------------------------------------------------------------------

# Run with the Python of an installed service: imports each variant's Settings class from
# its rendered source and checks the configuration page's rows against it.
SETTINGS_SCRIPT = r"""
import json, os, sys, typing
from pydantic import SecretStr

problems = {}
for job in json.load(sys.stdin):
    for name in [name for name in sys.modules if name.split(".")[0] == job["package"]]:
        del sys.modules[name]
    sys.path.insert(0, job["src"])
    config = __import__(job["package"] + ".core.config", fromlist=["Settings"])
    version = __import__(job["package"]).__version__
    sys.path.pop(0)
    prefix, rows, found = config.ENV_PREFIX, job["rows"], []
    fields = config.Settings.model_fields
    expected = {prefix + name.upper(): name for name in fields}
    if set(rows) != set(expected):
        found.append(f"documented but no setting: {sorted(set(rows) - set(expected))}; "
                      f"settings not documented: {sorted(set(expected) - set(rows))}")
    environment = {}
    for variable, (default, meaning) in rows.items():
        field = fields.get(expected.get(variable, ""))
        if field is None:
            continue
        secret = SecretStr in typing.get_args(field.annotation) or field.annotation is SecretStr
        if secret != ("secret" in default):
            found.append(f"{variable}: secret is {secret}, the page says {default!r}")
        for value in typing.get_args(field.annotation):
            for option in typing.get_args(value) if typing.get_origin(value) is typing.Literal else []:
                if f"`{option}`" not in meaning:
                    found.append(f"{variable}: allowed value {option!r} not mentioned")
        if typing.get_origin(field.annotation) is typing.Literal:
            for option in typing.get_args(field.annotation):
                if f"`{option}`" not in meaning and f"`{option}`" not in default:
                    found.append(f"{variable}: allowed value {option!r} not mentioned")
        if field.is_required():
            if default != "required":
                found.append(f"{variable}: required, the page says {default!r}")
            environment[variable] = "https://example.com/x"
        elif field.default is None:
            if not default.startswith("none"):
                found.append(f"{variable}: default None, the page says {default!r}")
        elif default == "package version":
            if field.default != version:
                found.append(f"{variable}: default {field.default!r} is not the package version")
        elif default.startswith("`") and default.endswith("`"):
            environment[variable] = default.strip("`")
        else:
            found.append(f"{variable}: default {field.default!r}, the page says {default!r}")
    os.environ.update(environment)
    try:
        settings = config.Settings(_env_file=None)
        for variable, text in environment.items():
            name = expected[variable]
            if not fields[name].is_required() and getattr(settings, name) != fields[name].default:
                found.append(f"{variable}: the page's default {text!r} reads as "
                             f"{getattr(settings, name)!r}, the default is {fields[name].default!r}")
    except Exception as error:
        found.append(f"the page's defaults do not validate: {error}")
    for variable in environment:
        del os.environ[variable]
    problems[job["id"]] = found
print(json.dumps(problems))
"""


# The OpenTelemetry SDK's own variables, read unprefixed: the page has a table of them apart
# from the service's settings.
LIBRARY_VARIABLES = "OTEL_"


def _rows(page: str) -> dict[str, tuple[str, str]]:
    """The page's settings rows (not the library's variables)."""
    rows = {}
    for line in page.splitlines():
        if (match := ROW.match(line)) and not match["variable"].startswith(LIBRARY_VARIABLES):
            rows[match["variable"]] = (match["default"].strip(), match["meaning"])
    return rows


@pytest.fixture(scope="module")
def installed_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service installed with uv: the Python that imports every variant's Settings (same
    distribution name, so ``__version__`` resolves). Settings import the tracing module, so
    it is a service with OpenTelemetry."""
    service = tmp_path_factory.mktemp("installed") / "service"
    service.mkdir()
    values = VARIANTS[0] | {"database": "none", "tracing": "opentelemetry"}
    run_template(Template.load(TEMPLATE_PATH), values, service)
    _uv(service, "sync", "--quiet", "--compile-bytecode")
    return service


def _uv(service: Path, *command: str, stdin: str | None = None) -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is not on PATH (bash .ci/run installs it)"
    result = subprocess.run(
        [uv, *command],
        cwd=service,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (
        f"uv {' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _settings_problems(installed: Path, jobs: list[dict[str, Any]]) -> dict[str, list[str]]:
    output = _uv(installed, "run", "--no-sync", "python", "-c", SETTINGS_SCRIPT, stdin=json.dumps(jobs))
    problems: dict[str, list[str]] = json.loads(output.splitlines()[-1])
    return problems


def _settings_job(job_id: str, values: dict[str, Any], root: Path, page: str) -> dict[str, Any]:
    return {"id": job_id, "package": values["packageName"], "src": str(root / "src"), "rows": _rows(page)}


def test_configuration_page_lists_exactly_the_settings(
    services: dict[str, tuple[dict[str, Any], Path]], installed_service: Path
) -> None:
    jobs, seen = [], set()
    for job_id, (values, root) in services.items():
        page = (root / "docs" / "configuration.md").read_text(encoding="utf-8")
        # Settings is composed in core/config.py from the feature settings classes.
        package = root / "src" / values["packageName"]
        settings = "".join(path.read_text(encoding="utf-8") for path in sorted(package.rglob("*settings.py")))
        config = (package / "core" / "config.py").read_text(encoding="utf-8")
        if (key := hashlib.sha256((page + config + settings).encode()).hexdigest()) not in seen:
            seen.add(key)
            jobs.append(_settings_job(job_id, values, root, page))
    assert len(jobs) >= 20
    problems = _settings_problems(installed_service, jobs)
    assert set(problems) == {job["id"] for job in jobs}
    failures = sorted({problem for found in problems.values() for problem in found})
    assert not failures, "\n".join(failures)


def test_settings_check_finds_a_wrong_default_and_a_missing_setting(
    services: dict[str, tuple[dict[str, Any], Path]], installed_service: Path
) -> None:
    values, root = next(iter(services.values()))
    page = (root / "docs" / "configuration.md").read_text(encoding="utf-8")
    prefix = values["envPrefix"]
    wrong = page.replace(
        f"| `{prefix}REQUEST_TIMEOUT_SECONDS` | `30` |", f"| `{prefix}REQUEST_TIMEOUT_SECONDS` | `31` |"
    )
    missing = "\n".join(line for line in page.splitlines() if f"`{prefix}LOG_JSON`" not in line)
    assert wrong != page
    assert missing != page
    problems = _settings_problems(
        installed_service,
        [_settings_job("wrong", values, root, wrong), _settings_job("missing", values, root, missing)],
    )
    assert any("REQUEST_TIMEOUT_SECONDS" in problem and "31" in problem for problem in problems["wrong"])
    assert any(f"{prefix}LOG_JSON" in problem for problem in problems["missing"])


# --- Code blocks ----------------------------------------------------------------------------


def _command_problem(words: list[str], root: Path, package: str) -> str | None:
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    if words[0] == "make":
        targets = {line.split(":")[0] for line in makefile.splitlines() if line[:1].isalpha() and ":" in line}
        unknown = set(words[1:]) - targets
        return f"no make target {sorted(unknown)}" if unknown else None
    if words[:2] == ["uv", "run"]:
        tool = words[2]
        if tool == "python" and words[3:4] == ["-m"]:
            module = root / "src" / words[4].replace(".", "/")
            exists = module.with_suffix(".py").is_file() or (module / "__main__.py").is_file()
            return None if exists else f"no module {words[4]}"
        return None if tool == "python" or f'"{tool}' in pyproject else f"{tool} is not a dependency"
    if words[0] == "uv" and words[1] in ("lock", "sync"):
        return None
    if words[0] == "uvx":
        return _update_command_problem(words, root)
    if words[0] == "bash":
        return None if (root / words[1]).is_file() else f"no script {words[1]}"
    return None if words[0] in EXTERNAL_TOOLS else f"unknown command {words[0]}"


def _update_command_problem(words: list[str], root: Path) -> str | None:
    """A problem with a `uvx --from git+<template>@<ref> scaffold update ...` command: it must
    run the template the service records, at its version or the reader's $VERSION, with the
    update's options only, and change only recorded answers to values the form accepts."""
    answers = json.loads((root / ".template-answers.json").read_text(encoding="utf-8"))
    refs = {VERSION_VARIABLE, f"v{answers['version']}"}
    if words[1:2] != ["--from"] or words[2:3] not in ([f"git+{answers['template']}@{ref}"] for ref in refs):
        return f"uvx must run --from git+{answers['template']}@<one of {sorted(refs)}>"
    if words[3:5] != ["scaffold", "update"]:
        return "uvx runs nothing but the template's scaffold update"
    arguments = words[5:]
    while arguments:
        option = arguments.pop(0)
        if option not in UPDATE_OPTIONS:
            return f"scaffold update has no option {option}"
        if not UPDATE_OPTIONS[option]:
            continue
        if not arguments:
            return f"{option} needs a value"
        value = arguments.pop(0)
        if option == "--to" and value not in refs:
            return f"--to {value}: not one of {sorted(refs)}"
        if option == "--set":
            name, _, text = value.partition("=")
            if name not in answers["parameters"]:
                return f"--set {name}: not a recorded answer"
            try:
                resolve_parameters(Template.load(TEMPLATE_PATH), {**answers["parameters"], name: text})
            except TemplateInputError as error:
                return f"--set {value}: {error}"
    return None


def test_the_update_command_check_finds_wrong_commands(
    services: dict[str, tuple[dict[str, Any], Path]],
) -> None:
    _, root = next(iter(services.values()))
    template = json.loads((root / ".template-answers.json").read_text(encoding="utf-8"))["template"]
    run = ["uvx", "--from", f"git+{template}@$VERSION", "scaffold", "update"]
    assert _update_command_problem([*run, "--to", "$VERSION", "--dry-run"], root) is None
    assert _update_command_problem([*run, "--force"], root) == "scaffold update has no option --force"
    assert "not a recorded answer" in str(_update_command_problem([*run, "--set", "colour=red"], root))
    assert "breaks the enum rule" in str(_update_command_problem([*run, "--set", "lifecycle=retired"], root))
    wrong_url = ["uvx", "--from", "git+https://example.com/other.git@$VERSION", "scaffold", "update"]
    assert str(_update_command_problem(wrong_url, root)).startswith("uvx must run --from")


def test_the_readme_s_update_command_is_the_template_s(
    services: dict[str, tuple[dict[str, Any], Path]],
) -> None:
    problems = []
    for job_id, (_values, root) in services.items():
        readme = (root / "README.md").read_text(encoding="utf-8")
        section = readme.split("## Template updates", 1)[1].split("\n## ", 1)[0]
        (block,) = code_blocks(f"{job_id}/README.md", section)
        commands = list(shell_commands(block))
        assert [words[0] for words in commands] == ["uvx"]
        problems += [
            f"{block.where}: {problem}" for problem in [_update_command_problem(commands[0], root)] if problem
        ]
    assert not problems, "\n".join(problems)


def test_code_blocks_are_excerpts_or_runnable(services: dict[str, tuple[dict[str, Any], Path]]) -> None:
    problems, seen, checked = [], set(), 0
    for job_id, (values, root) in services.items():
        for page in sorted((root / "docs").glob("*.md")):
            text = page.read_text(encoding="utf-8")
            if (key := hashlib.sha256(text.encode()).hexdigest()) in seen:
                continue
            seen.add(key)
            for block in code_blocks(f"{job_id}/{page.name}", text):
                checked += 1
                if block.marker == "excerpt":
                    source = root / marked_path(block)
                    found = (
                        excerpt_problem(block, source.read_text(encoding="utf-8"))
                        if source.is_file()
                        else "no file"
                    )
                    problems += [f"{block.where}: {found}"] if found else []
                elif block.marker is not None:
                    problems.append(f"{block.where}: {block.marker} blocks belong in the template's docs")
                elif block.language == "sh":
                    problems += [problem] if (problem := shell_syntax_problem(block)) else []
                    for words in shell_commands(block):
                        if problem := _command_problem(words, root, values["packageName"]):
                            problems.append(f"{block.where}: {' '.join(words)}: {problem}")
                elif block.language in ("yaml", "json", "toml"):
                    problems += [problem] if (problem := data_problem(block)) else []
                else:
                    problems.append(f"{block.where}: unmarked {block.language or 'plain'} block")
    assert checked >= 10
    assert not problems, "\n".join(problems[:30])


# --- Where things go ------------------------------------------------------------------------

CODE_SPAN = re.compile(r"`([^`\n]+)`")
PYTHON_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[A-Za-z0-9]")
PATH = re.compile(r"[\w.-]*(/[\w.-]*)+|[\w-]+\.(py|md|toml|example)")
EXAMPLE_DOMAIN = "categor"  # the example of a new domain names files that do not exist yet


def _layout_claims(root: Path) -> str:
    """The README's "Where things go" section and the page on changing the service."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Where things go", 1)[1].split("\n## ", 1)[0]
    return section + (root / "docs" / "extending.md").read_text(encoding="utf-8")


def test_where_things_go_names_only_what_the_service_has(
    services: dict[str, tuple[dict[str, Any], Path]],
) -> None:
    """Every file or folder the layout guidance names exists in the render, and every Python
    name it cites is defined or used in the service's code."""
    problems, checked = [], 0
    for job_id, (values, root) in services.items():
        package = root / "src" / values["packageName"]
        code = "".join(path.read_text(encoding="utf-8") for path in package.rglob("*.py"))
        code += (
            (root / "migrations" / "env.py").read_text(encoding="utf-8")
            if (root / "migrations").is_dir()
            else ""
        )
        for span in CODE_SPAN.findall(_layout_claims(root)):
            if EXAMPLE_DOMAIN in span:
                continue
            if PATH.fullmatch(span):
                checked += 1
                path = span.removeprefix(f"src/{values['packageName']}/")
                # A bare file name is one of the products domain's, as the page lists them.
                if not any((folder / path).exists() for folder in (root, package, package / "products")):
                    problems.append(f"{job_id}: no {span}")
            elif PYTHON_NAME.fullmatch(span):
                checked += 1
                if not re.search(rf"\b{re.escape(span)}\b", code):
                    problems.append(f"{job_id}: {span} is not in the code")
    assert checked >= 100
    assert not problems, "\n".join(problems)


# --- Sites ----------------------------------------------------------------------------------


def _build_and_check(service: Path, site: Path) -> list[str]:
    try:
        build_site(service / "mkdocs.yml", site)
    except Exception as error:  # the strict build's abort, reported with the variant
        return [f"mkdocs build --strict failed: {error}"]
    return broken_links(site)


def test_every_distinct_docs_set_builds_strictly_without_broken_links(
    services: dict[str, tuple[dict[str, Any], Path]], tmp_path: Path
) -> None:
    distinct: dict[str, Path] = {}
    for _values, root in services.values():
        files = [root / "mkdocs.yml", *sorted((root / "docs").glob("*"))]
        digest = hashlib.sha256(
            b"".join(path.name.encode() + path.read_bytes() for path in files)
        ).hexdigest()
        distinct.setdefault(digest, root)
    assert len(distinct) >= 100
    os.environ["NO_MKDOCS_2_WARNING"] = "1"
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        futures = {
            root.name: pool.submit(_build_and_check, root, tmp_path / digest)
            for digest, root in distinct.items()
        }
        problems = {name: future.result() for name, future in futures.items()}
    assert not {name: found for name, found in problems.items() if found}
