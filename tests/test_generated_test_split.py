"""A generated service's tests split by what they need: `make test-unit` passes with no
server at all, and the full suite skips the tests of a missing server with one reason that
names it, except in CI (CI=true), where they fail.

One variant with every kind of server (PostgreSQL, Redis for the cache and the worker); the
servers' variables point at closed ports, as on a machine where nothing runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scaffold.workflow import Template, run_template
from template_matrix import BASE_VALUES, TEMPLATE_PATH

VALUES = {**BASE_VALUES, "database": "aurora-postgresql", "cache": "elasticache-redis", "taskQueue": "celery"}
# Nothing listens on port 1.
CLOSED = {
    "TEST_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/test",
    "TEST_REDIS_URL": "redis://127.0.0.1:1/0",
}
REASONS = {
    "PostgreSQL not reachable at 127.0.0.1:1: set TEST_DATABASE_URL",
    "Redis not reachable at 127.0.0.1:1: set TEST_REDIS_URL",
}


def _counts(output: str) -> dict[str, int]:
    """The counts of pytest's last line, e.g. {"passed": 206, "skipped": 91} or, collecting,
    {"tests": 206, "deselected": 91}."""
    last = output.strip().splitlines()[-1]
    return {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", last)}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("split") / "service"
    root.mkdir()
    run_template(Template.load(TEMPLATE_PATH), VALUES, root)
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv is not None, "uv is not on PATH"
    subprocess.run(
        [uv, "sync", "--quiet", "--compile-bytecode"], cwd=root, env=_environment(), check=True, timeout=900
    )
    return root


def _environment(**extra: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name != "CI"}
    return {**environment, **CLOSED, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": "", **extra}


def _run(command: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        shell=True,
        cwd=cwd,
        env=_environment(**extra),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def _passed(output: str) -> set[str]:
    return set(re.findall(r"^PASSED (.+)$", output, flags=re.MULTILINE))


def test_unit_tests_pass_without_servers_and_the_others_skip_naming_theirs(service: Path) -> None:
    full = _run("uv run --no-sync pytest -p no:cacheprovider -rA", service)
    assert full.returncode == 0, full.stdout[-5000:] + full.stderr[-2000:]
    counts = _counts(full.stdout)
    assert set(counts) == {"passed", "skipped"}, full.stdout[-3000:]
    skip_lines = [line for line in full.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == len(REASONS), "\n".join(skip_lines)
    for reason in REASONS:
        assert any(reason in line for line in skip_lines), f"no skip for {reason!r}:\n{skip_lines}"

    # `make test-unit` selects exactly the tests that passed with no server (collected, not
    # run again: the run above is the same tests on the same closed ports).
    unit = _run("make test-unit", service, PYTEST_ADDOPTS="--collect-only -q")
    assert unit.returncode == 0, unit.stdout[-5000:] + unit.stderr[-2000:]
    selected = {line for line in unit.stdout.splitlines() if line.startswith("tests/")}
    assert selected == _passed(full.stdout), unit.stdout[-3000:]
    assert _counts(unit.stdout)["deselected"] == counts["skipped"]


def test_in_ci_a_missing_server_fails_its_tests(service: Path) -> None:
    marked = _run('uv run --no-sync pytest -p no:cacheprovider -m "database or redis"', service, CI="true")
    counts = _counts(marked.stdout)
    assert marked.returncode == 1, marked.stdout[-5000:]
    assert set(counts) == {"errors", "deselected"}, marked.stdout[-3000:]
    for reason in REASONS:
        assert reason in marked.stdout
