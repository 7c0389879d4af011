"""Every combination of the form's choices renders into code that ruff (lint and format) and
mypy --strict accept, with each variant's own tool settings.

The 2592 combinations render to far fewer distinct variants of the code: choices such as the
lifecycle or the system change no Python file. Each distinct set of Python files and tool
settings is checked once, in one environment holding the union of every variant's
dependencies. mypy keeps one incremental cache and checks the variants in one fixed folder,
so only the modules that differ from the previous variant are checked again. The
combinations are split by database into shards, each an xdist group of its own, so that the
workers share the checks (mypy's pass is the longest single job of the suite).

The Python version changes only the tools' target version, not the code, so mypy checks
every variant under the oldest supported version (each combination of modules once), and
under each newer one a few variants that together hold every module file and every choice's
value: each file is judged against each version's standard library in at least one of its
forms. (Every form of every module under every version was 220 more runs, a third of the
pass; the generated suites also run mypy under each version.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scaffold.workflow import Template, run_template
from template_matrix import TEMPLATE_PATH, all_combinations, combination_id, pairwise_submissions

TOOL_SECTIONS = ("ruff", "mypy")
SHARDS = (("aurora-postgresql", "dynamodb"), ("aurora-mysql", "none"))


@dataclass
class CodeVariant:
    """One distinct rendering of the code and the combinations that produce it."""

    root: Path
    combinations: list[dict[str, Any]] = field(default_factory=list)


def _code_and_document(root: Path) -> hashlib._Hash:
    """A digest of the Python files (paths and contents) and the committed OpenAPI document."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update((root / "openapi.json").read_bytes())
    return digest


def _fingerprint(root: Path) -> str:
    """Python files, the tool settings that judge them and the committed OpenAPI document."""
    digest = _code_and_document(root)
    tools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]
    digest.update(repr([tools.get(name) for name in TOOL_SECTIONS]).encode())
    return digest.hexdigest()


def _requirements(root: Path) -> set[str]:
    project = tomllib.loads((root / "pyproject.toml").read_text())
    groups = project.get("dependency-groups", {})
    return {*project["project"]["dependencies"], *groups.get("dev", [])}


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (bash .ci/run installs it)")
    return uv


def _run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)


def _shard_combinations(shard: int) -> Iterator[dict[str, Any]]:
    return (values for values in all_combinations() if values["database"] in SHARDS[shard])


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(shard, id=f"shard{shard}", marks=pytest.mark.xdist_group(f"static_checks_{shard}"))
        for shard in range(len(SHARDS))
    ],
)
def shard(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture(scope="module")
def code_variants(shard: int, tmp_path_factory: pytest.TempPathFactory) -> list[CodeVariant]:
    template = Template.load(TEMPLATE_PATH)
    renders = tmp_path_factory.mktemp("renders")
    variants: dict[str, CodeVariant] = {}
    for index, values in enumerate(_shard_combinations(shard)):
        target = renders / f"v{index}"
        target.mkdir()
        run_template(template, values, target)
        variant = variants.setdefault(_fingerprint(target), CodeVariant(target))
        variant.combinations.append(values)
        if variant.root != target:
            shutil.rmtree(target)
    return list(variants.values())


@pytest.fixture(scope="module")
def union_environment(code_variants: list[CodeVariant], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with every dependency of every variant (and their dev tools)."""
    venv = tmp_path_factory.mktemp("union") / "venv"
    requirements = sorted(set().union(*(_requirements(variant.root) for variant in code_variants)))
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    for command in (
        [_uv(), "venv", "--quiet", "--python", "3.11", str(venv)],
        [_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *requirements],
    ):
        result = _run(command, venv.parent, env)
        assert result.returncode == 0, result.stdout + result.stderr
    return venv


def test_the_shards_hold_every_database_once() -> None:
    databases = [database for shard in SHARDS for database in shard]

    assert sorted(databases) == sorted({values["database"] for values in all_combinations()})


def test_import_order_does_not_depend_on_the_service_s_name(tmp_path: Path) -> None:
    """The variants above share one name, which sorts after the tests' ``conftest``; a
    package named before it must sort its imports as cleanly. The pairwise submissions hold
    every value, so every test file that imports ``conftest`` is rendered."""
    template = Template.load(TEMPLATE_PATH)
    roots = []
    for index, values in enumerate(pairwise_submissions(template)):
        root = tmp_path / str(index)
        root.mkdir()
        run_template(template, {**values, "name": "alpha-api"}, root)
        assert (root / "src" / "alpha_api").is_dir()
        roots.append(str(root))
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "I", *roots]

    result = _run(command, tmp_path)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


def test_combinations_collapse_to_distinct_code_variants(
    shard: int, code_variants: list[CodeVariant]
) -> None:
    rendered = sum(len(variant.combinations) for variant in code_variants)

    assert rendered == len(list(_shard_combinations(shard)))
    assert 1 < len(code_variants) < rendered


def _tool(venv: Path, name: str) -> str:
    return str(venv / "bin" / name)


def _problems(result: subprocess.CompletedProcess[str], variant: CodeVariant) -> str | None:
    if result.returncode == 0:
        return None
    example = combination_id(variant.combinations[0])
    output = re.sub(r"\n{3,}", "\n\n", result.stdout + result.stderr)[-4000:]
    alike = len(variant.combinations) - 1
    return f"{' '.join(result.args[:3])} failed for {example} (+{alike} alike):\n{output}"


def test_every_variant_passes_ruff(code_variants: list[CodeVariant], union_environment: Path) -> None:
    """One run over every variant: ruff judges each file by the closest pyproject.toml, so
    each variant by its own settings."""
    renders = code_variants[0].root.parent
    roots = [variant.root.name for variant in code_variants]
    failures = []
    for arguments in (["check", "--no-cache"], ["format", "--no-cache", "--check"]):
        result = _run([_tool(union_environment, "ruff"), *arguments, *roots], renders)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            failing = [v for v in code_variants if re.search(rf"\b{v.root.name}/", output)]
            examples = [combination_id(variant.combinations[0]) for variant in failing[:5]]
            failures.append(
                f"ruff {arguments[0]} failed for {len(failing)} variants {examples}:\n{output[-4000:]}"
            )

    assert not failures, "\n\n".join(failures)


def _in_place(variants: list[CodeVariant], workdir: Path) -> Iterator[CodeVariant]:
    """Each variant's files copied, in turn, into ``workdir`` (same paths for mypy's cache)."""
    for variant in variants:
        if workdir.exists():
            shutil.rmtree(workdir)
        shutil.copytree(variant.root, workdir, symlinks=True)
        yield CodeVariant(workdir, variant.combinations)


def _mypy(variants: list[CodeVariant], venv: Path, scratch: Path) -> list[str]:
    env = {**os.environ, "MYPYPATH": "src", "VIRTUAL_ENV": str(venv)}
    failures = []
    command = [
        _tool(venv, "mypy"),
        "--cache-dir",
        str(scratch / "cache"),
        "--python-executable",
        _tool(venv, "python"),
    ]
    for variant in _in_place(variants, scratch / "service"):
        problem = _problems(_run(command, variant.root, env), variant)
        if problem:
            failures.append(problem)
    return failures


SIMILARITY_ORDER = ("pythonVersion", "database", "orm", "cache", "taskQueue", "events", "auth", "tracing")


def _similarity_order(variant: CodeVariant) -> list[str]:
    """Neighbours in this order share most modules, so mypy's cache saves the most."""
    return [str(variant.combinations[0].get(name)) for name in SIMILARITY_ORDER]


def _python_version(variant: CodeVariant) -> tuple[int, ...]:
    return tuple(int(part) for part in variant.combinations[0]["pythonVersion"].split("."))


def _parts(variant: CodeVariant) -> set[str]:
    """Its module files and its choices' values."""
    modules = {str(path.relative_to(variant.root)) for path in variant.root.rglob("*.py")}
    choices = zip(SIMILARITY_ORDER, _similarity_order(variant), strict=True)
    return modules | {f"{name}={value}" for name, value in choices}


def _holding_every_part(variants: list[CodeVariant]) -> list[CodeVariant]:
    """Few variants that between them hold every part of ``variants`` (greedy cover)."""
    parts = {id(variant): _parts(variant) for variant in variants}
    uncovered = set().union(*parts.values())
    picked = []
    while uncovered:
        best = max(variants, key=lambda variant: len(parts[id(variant)] & uncovered))
        uncovered -= parts[id(best)]
        picked.append(best)
    return picked


def mypy_targets(code_variants: list[CodeVariant]) -> list[CodeVariant]:
    """Every variant under the oldest Python; under newer ones, a cover of every part."""
    versions = sorted({_python_version(variant) for variant in code_variants})
    by_version = {
        version: [variant for variant in code_variants if _python_version(variant) == version]
        for version in versions
    }
    newer = [variant for version in versions[1:] for variant in _holding_every_part(by_version[version])]
    return by_version[versions[0]] + newer


def test_mypy_targets_hold_every_module_file_and_choice_under_every_python_version(
    code_variants: list[CodeVariant],
) -> None:
    targets = mypy_targets(code_variants)
    for version in {_python_version(variant) for variant in code_variants}:
        of_version = [variant for variant in code_variants if _python_version(variant) == version]
        checked = [variant for variant in targets if _python_version(variant) == version]
        assert set().union(*map(_parts, checked)) == set().union(*map(_parts, of_version))
    oldest = min(map(_python_version, code_variants))
    assert {id(v) for v in code_variants if _python_version(v) == oldest} <= {id(v) for v in targets}
    assert len(targets) < len(code_variants)


def test_every_variant_and_module_passes_mypy_strict(
    code_variants: list[CodeVariant], union_environment: Path, tmp_path: Path
) -> None:
    ordered = sorted(mypy_targets(code_variants), key=_similarity_order)
    failures = _mypy(ordered, union_environment, tmp_path)

    assert not failures, (
        f"{len(failures)} of {len(ordered)} variants checked fail mypy --strict:\n\n"
        + "\n\n".join(failures[:5])
    )


# Run in the union environment: each variant's document against its own app's, all in one
# process (an interpreter per variant would cost a second each). The variants are not
# installed, so a dist-info gives each package the version its pyproject.toml names.
OPENAPI_CHECK = """
import importlib, json, sys, tempfile, tomllib
from pathlib import Path

metadata = Path(tempfile.mkdtemp())
sys.path.insert(0, str(metadata))
stale = []
for root in map(Path, sys.argv[1:]):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    package = project["name"].replace("-", "_")
    for old in list(metadata.iterdir()):
        (old / "METADATA").unlink()
        old.rmdir()
    dist_info = metadata / f"{package}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\\nName: {project['name']}\\nVersion: {project['version']}\\n"
    )
    for name in [name for name in sys.modules if name.split(".")[0] == package]:
        del sys.modules[name]
    sys.path.insert(0, str(root / "src"))
    importlib.invalidate_caches()
    try:
        document = importlib.import_module(package + ".openapi").openapi_document()
        if document != (root / "openapi.json").read_text(encoding="utf-8"):
            stale.append(str(root))
    finally:
        sys.path.remove(str(root / "src"))
print(json.dumps(stale))
"""


def _app_fingerprint(root: Path) -> str:
    """What an app's document is made of: its Python files, its project's name and version,
    and its committed document (the tool settings, which tell variants of other Python
    versions apart, are not)."""
    digest = _code_and_document(root)
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    digest.update(f"{project['name']}\0{project['version']}\0".encode())
    return digest.hexdigest()


def _one_per_app(code_variants: list[CodeVariant]) -> list[CodeVariant]:
    return list({_app_fingerprint(variant.root): variant for variant in code_variants}.values())


def test_every_variant_commits_its_app_s_openapi_document(
    code_variants: list[CodeVariant], union_environment: Path, tmp_path: Path
) -> None:
    script = tmp_path / "check_openapi.py"
    script.write_text(OPENAPI_CHECK)
    roots = [str(variant.root) for variant in _one_per_app(code_variants)]
    result = _run([_tool(union_environment, "python"), str(script), *roots], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    stale = {Path(root) for root in json.loads(result.stdout.splitlines()[-1])}

    failing = [combination_id(v.combinations[0]) for v in code_variants if v.root in stale]
    assert not failing, (
        f"{len(failing)} of {len(code_variants)} variants render an openapi.json that is not "
        f"their app's (regenerate it: uv run python -m scaffold.openapi_skeleton): {failing[:5]}"
    )


ORACLE_MODULES = Path(__file__).resolve().parents[1] / "oracle" / "node_modules"


def test_every_distinct_openapi_document_passes_the_generated_ci_s_linter(
    code_variants: list[CodeVariant], tmp_path: Path
) -> None:
    """Spectral with the OWASP ruleset, as the generated CI runs it, once per distinct
    document and ruleset (the oracle pins the same versions as the workflow)."""
    distinct: dict[tuple[bytes, bytes], CodeVariant] = {}
    for variant in code_variants:
        key = ((variant.root / "openapi.json").read_bytes(), (variant.root / ".spectral.yaml").read_bytes())
        distinct.setdefault(key, variant)
    env = {**os.environ, "NODE_PATH": str(ORACLE_MODULES)}
    failures = []
    for index, variant in enumerate(distinct.values()):
        workdir = tmp_path / f"d{index}"
        workdir.mkdir()
        for name in ("openapi.json", ".spectral.yaml"):
            shutil.copy(variant.root / name, workdir / name)
        command = [str(ORACLE_MODULES / ".bin" / "spectral"), "lint", "--fail-severity=hint", "openapi.json"]
        result = _run(command, workdir, env)
        if result.returncode != 0:
            failures.append(f"{combination_id(variant.combinations[0])}:\n{result.stdout[-3000:]}")

    assert 1 < len(distinct) < len(code_variants)
    assert not failures, "\n\n".join(failures[:3])
