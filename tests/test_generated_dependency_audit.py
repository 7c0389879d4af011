"""The generated CI's dependency audit, run here as the workflow runs it.

The step exports the service's uv.lock (every package the service can ship, optional extras
included, no development tools) with its hashes and audits that with pip-audit. The export is
checked against the lockfile itself; the audit needs pip-audit's vulnerability service (PyPI's
per-release JSON API) and is skipped, saying so, where that service does not answer.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaffold.workflow import Template, run_template
from template_matrix import BASE_VALUES, SKELETON_PATH, TEMPLATE_PATH, combination_id
from test_generated_services import _run, _uv

WORKFLOW = SKELETON_PATH / ".github" / "workflows" / "ci.yml"
STEP = "Audit dependencies for known vulnerabilities"
# Together these variants use every optional dependency of the template.
VARIANTS = [
    {**BASE_VALUES, "database": "aurora-postgresql", "orm": "sqlalchemy", "cache": "elasticache-redis",
     "taskQueue": "celery", "auth": "jwt", "tracing": "datadog"},
    {**BASE_VALUES, "database": "aurora-mysql", "orm": "none", "taskQueue": "arq",
     "tracing": "opentelemetry"},
    {**BASE_VALUES, "database": "dynamodb"},
]  # fmt: skip
# A release with published advisories (CVE-2019-10906 and later), with its PyPI hashes.
VULNERABLE = (
    "jinja2==2.10"
    " --hash=sha256:74c935a1b8bb9a3947c50a54766a969d4846290e1e788ea44c1392163723c3bd"
    " --hash=sha256:f84be1bb0040caca4cea721fcbbbbd61f9be9464ca236387158b0feea01914a4\n"
)


def audit_step() -> tuple[str, str]:
    """The step's two command lines: the export and the audit."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (script,) = [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if step.get("name") == STEP
    ]
    export, audit = script.strip().splitlines()
    return export, audit


def run_step(script: str, service: Path, runner_temp: Path) -> subprocess.CompletedProcess[str]:
    """``script`` as a `run:` step runs it (bash -e), with uv and uvx on PATH."""
    uv_directory = str(Path(_uv()).parent)
    environment = {
        **os.environ,
        "PATH": f"{uv_directory}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(runner_temp),
        "UV_PYTHON_DOWNLOADS": "never",
        "VIRTUAL_ENV": "",
    }
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=service,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def shipped_packages(lock: dict[str, Any]) -> set[str]:
    """``name==version`` of every locked package the project needs with all its extras."""
    packages = {package["name"]: package for package in lock["package"]}
    (project,) = [package for package in lock["package"] if "editable" in package["source"]]
    wanted = list(project.get("dependencies", []))
    wanted += [
        dependency for group in project.get("optional-dependencies", {}).values() for dependency in group
    ]
    found: set[str] = set()
    seen: set[tuple[str, str | None]] = set()
    while wanted:
        dependency = wanted.pop()
        for extra in [None, *dependency.get("extra", [])]:
            if (dependency["name"], extra) in seen:
                continue
            seen.add((dependency["name"], extra))
            package = packages[dependency["name"]]
            found.add(f"{package['name']}=={package['version']}")
            if extra is None:
                wanted += package.get("dependencies", [])
            else:
                wanted += package.get("optional-dependencies", {}).get(extra, [])
    return found


def vulnerability_service_problem() -> str | None:
    """Why pip-audit's default service cannot be used from here, or None if it answers."""
    url = "https://pypi.org/pypi/pip-audit/2.10.1/json"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            response.read()
    except urllib.error.HTTPError as error:
        return f"{url} answered HTTP {error.code}"
    except (urllib.error.URLError, TimeoutError) as error:
        return f"{url} is unreachable: {error}"
    return None


@pytest.mark.parametrize("values", VARIANTS, ids=[combination_id(values) for values in VARIANTS])
def test_audit_step_exports_and_audits_what_the_service_ships(values: dict[str, Any], tmp_path: Path) -> None:
    service, runner_temp = tmp_path / "service", tmp_path / "runner"
    service.mkdir()
    runner_temp.mkdir()
    run_template(Template.load(TEMPLATE_PATH), values, service)
    _run([_uv(), "lock", "--quiet"], service, timeout=600)
    export, _ = audit_step()

    exported = run_step(export, service, runner_temp)
    assert exported.returncode == 0, exported.stderr
    requirements = (runner_temp / "requirements.txt").read_text(encoding="utf-8")
    lines = requirements.replace("\\\n", " ").splitlines()
    entries = [line.split() for line in lines if line.strip() and not line.strip().startswith("#")]
    lock = tomllib.loads((service / "uv.lock").read_text(encoding="utf-8"))
    assert {entry[0] for entry in entries} == shipped_packages(lock)
    # pip-audit --disable-pip only takes pins it need not resolve: hashed ones.
    assert [
        entry[0] for entry in entries if not any(part.startswith("--hash=sha256:") for part in entry)
    ] == []

    problem = vulnerability_service_problem()
    if problem:
        pytest.skip(f"pip-audit's vulnerability service does not answer from this machine ({problem})")
    audited = run_step("\n".join(audit_step()), service, runner_temp)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "No known vulnerabilities found" in audited.stdout + audited.stderr


def test_audit_command_fails_on_a_known_vulnerability(tmp_path: Path) -> None:
    problem = vulnerability_service_problem()
    if problem:
        pytest.skip(f"pip-audit's vulnerability service does not answer from this machine ({problem})")
    (tmp_path / "requirements.txt").write_text(VULNERABLE, encoding="utf-8")
    _, audit = audit_step()
    audited = run_step(audit, tmp_path, tmp_path)
    assert audited.returncode == 1, audited.stdout + audited.stderr
    assert "jinja2" in audited.stdout.lower()
    assert "2.10" in audited.stdout
