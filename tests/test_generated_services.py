"""Rendered services build and pass their own checks: ruff, ruff format and pytest.

A pairwise-covering set of variants (plus the defaults) is rendered with scaffold and each
is installed with uv from scratch and run through the commands its own CI runs, but mypy:
test_every_variant_static_checks runs mypy --strict over every variant, with each variant's
own settings, so running it here again would only repeat that work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scaffold.workflow import Template, run_template
from template_matrix import TEMPLATE_PATH, combination_id, pairwise_submissions

VARIANTS = pairwise_submissions()
CHECKS = (
    ("ruff", "check", "."),
    ("ruff", "format", "--check", "."),
    ("pytest", "-q", "-p", "no:cacheprovider"),
)


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (bash .ci/run installs it)")
    return uv


# Redis databases of the generated suites (their cache and broker tests share one; the suites
# default to 14 and 15), one per pytest-xdist worker so that two suites never meet. The image
# tests use 12 and 13.
REDIS_DATABASES = {"gw0": 14, "gw1": 11, "gw2": 10, "gw3": 9}


def _run(command: list[str], cwd: Path, timeout: float) -> None:
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None:
        environment["TEST_REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_DATABASES[worker]}"
    result = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed in {cwd}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )


@pytest.mark.parametrize("values", VARIANTS, ids=[combination_id(values) for values in VARIANTS])
def test_rendered_service_passes_its_own_checks(values: dict[str, Any], tmp_path: Path) -> None:
    service = tmp_path / "service"
    service.mkdir()
    run_template(Template.load(TEMPLATE_PATH), values, service)
    uv = _uv()
    _run([uv, "sync", "--quiet", "--compile-bytecode"], service, timeout=900)
    # A timeout for a hang, not for a busy machine: with four workers a suite can take twice
    # its quiet time.
    for check in CHECKS:
        _run([uv, "run", "--no-sync", *check], service, timeout=1500)
