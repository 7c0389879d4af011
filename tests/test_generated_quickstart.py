"""A new service runs with no infrastructure: render it, follow its README's "Develop" steps
word for word, and it is ready and serves products on in-process stand-ins (SQLite for the
Aurora variants, moto for DynamoDB, an in-process cache and in-process tasks).

One variant per database choice, with the cache and a task queue switched on where they can
be, on a machine where no service URL is configured. The steps start in a fresh local render,
which is not a git repository (Backstage's publish step makes one); a second test follows
them in a repository as Backstage publishes it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from local_http import free_port, request_json
from scaffold.workflow import Template, run_template
from template_matrix import BASE_VALUES, TEMPLATE_PATH, combination_id

VARIANTS: list[dict[str, Any]] = [
    {
        "database": "aurora-postgresql",
        "orm": "sqlalchemy",
        "cache": "elasticache-redis",
        "taskQueue": "celery",
    },
    {"database": "aurora-mysql", "orm": "none", "cache": "none", "taskQueue": "arq", "tracing": "none"},
    {"database": "dynamodb", "cache": "elasticache-redis", "taskQueue": "arq", "auth": "jwt"},
    {"database": "none", "cache": "none", "taskQueue": "celery", "pythonVersion": "3.13"},
]
DEVELOP_BLOCK = re.compile(r"## Develop\n.*?```sh\n(.*?)```", re.DOTALL)


def _develop_steps(readme: str) -> list[str]:
    """The commands of the README's Develop block, without their comments."""
    (block,) = DEVELOP_BLOCK.findall(readme)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def _clean_environment(service: Path) -> dict[str, str]:
    """This machine's environment without any setting of the service (no URL configured),
    where git finds no repository above the service's folder."""
    env_prefix = re.search(r"^(\w+_)ENVIRONMENT=", (service / ".env.example").read_text(), re.MULTILINE)
    assert env_prefix, ".env.example sets no ENVIRONMENT"
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith(env_prefix.group(1))},
        "UV_PYTHON_DOWNLOADS": "never",
        "VIRTUAL_ENV": "",
        "GIT_CEILING_DIRECTORIES": str(service.parent),
    }


def _git(service: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=service, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def _follow_setup_steps(service: Path, env: dict[str, str]) -> str:
    """Run the README's Develop steps but the last (the server), each exactly as written;
    returns the last one."""
    *setup, serve = _develop_steps((service / "README.md").read_text(encoding="utf-8"))
    for step in setup:
        result = subprocess.run(
            step, shell=True, cwd=service, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, f"{step!r} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    # What the steps promise: uv.lock staged in the service's own repository, hooks installed.
    assert _git(service, env, "rev-parse", "--show-toplevel") == str(service)
    assert _git(service, env, "diff", "--cached", "--name-only", "--", "uv.lock") == "uv.lock"
    assert (service / ".git" / "hooks" / "pre-commit").is_file()
    return serve


@pytest.mark.parametrize("choices", VARIANTS, ids=lambda choices: "-".join(map(str, choices.values())))
def test_readme_develop_steps_serve_the_service_without_infrastructure(
    choices: dict[str, Any], tmp_path: Path
) -> None:
    values = {**BASE_VALUES, **choices}
    service = tmp_path / "service"
    service.mkdir()
    run_template(Template.load(TEMPLATE_PATH), values, service)
    env = _clean_environment(service)
    port = free_port()
    serve = _follow_setup_steps(service, env)
    assert serve == "make dev", f"the README's last Develop step changed: {serve!r}"

    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            f"{serve} PORT={port}",
            shell=True,
            cwd=service,
            env=env,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status, report = request_json(f"{base}/health/ready")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{combination_id(values)} did not come up") from None
                time.sleep(0.3)
        assert (status, report["status"]) == (200, "ok"), report

        auth = None
        if values.get("auth") == "jwt":  # the template's default is none
            # The README: locally without keys the service issues its own tokens.
            token_status, token = request_json(f"{base}/local/token", {"tenant_id": "acme"})
            assert token_status == 200, token
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            assert request_json(f"{base}/api/v1/products")[0] == 401
        created_status, created = request_json(
            f"{base}/api/v1/products", {"name": "Widget", "price": "4.50"}, auth
        )
        assert created_status == 201, created
        read_status, read = request_json(f"{base}/api/v1/products/{created['id']}", auth=auth)
        listed_status, listed = request_json(f"{base}/api/v1/products", auth=auth)
        assert (read_status, read) == (200, created)
        assert listed_status == 200
        assert [item["id"] for item in listed["items"]] == [created["id"]]
    except AssertionError as failure:
        raise AssertionError(f"{failure}\nservice output:\n{log.read_text()[-5000:]}") from None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_readme_develop_steps_work_in_the_published_repository(tmp_path: Path) -> None:
    """Backstage's publish step pushes the render as one commit; a clone of it follows the
    same steps, which keep its history and stage the new uv.lock."""
    service = tmp_path / "service"
    service.mkdir()
    run_template(Template.load(TEMPLATE_PATH), {**BASE_VALUES, **VARIANTS[-1]}, service)
    env = _clean_environment(service)
    identity = ("-c", "user.name=Backstage", "-c", "user.email=backstage@example.com")
    _git(service, env, "init", "--quiet", "--initial-branch", "main")
    _git(service, env, "add", "--all")
    _git(service, env, *identity, "commit", "--quiet", "--message", "Initial commit")
    published = _git(service, env, "rev-parse", "HEAD")

    _follow_setup_steps(service, env)

    assert _git(service, env, "rev-parse", "HEAD") == published
    assert _git(service, env, "status", "--porcelain", "--untracked-files=no") == "A  uv.lock"
