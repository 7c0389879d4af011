"""A new service's background worker runs the tasks of its API when the README's "Background
worker" steps are followed word for word, and refuses to start without a broker.

One Celery and one arq variant are rendered (once per module), and the README's "Develop"
setup steps run (``uv lock``, ``make install``, ``cp .env.example .env``). Then:

- ``make worker`` with that ``.env`` (no broker URL) exits at once with one line naming the
  setting, and status 2;
- the "Background worker" block runs line by line: ``make deps`` needs Docker, so it is the
  one step replaced, by this machine's Redis: the README's broker URL
  (``redis://localhost:6379/1``) is pointed at database ``BROKER_DB`` of the Redis on
  127.0.0.1:6379 instead. ``make dev`` and ``make worker`` run as real processes; a product
  created through the API is delivered by the worker (its log line and its delivery record
  in Redis), not in the API process;
- the worker, sent SIGTERM as a terminal sends it (to make and everything it started), has
  exited within seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_http import free_port, request_json
from scaffold.workflow import Template, run_template
from template_matrix import BASE_VALUES, TEMPLATE_PATH, combination_id

VARIANTS: list[dict[str, Any]] = [
    {"database": "none", "cache": "elasticache-redis", "taskQueue": "celery"},
    {"database": "aurora-postgresql", "orm": "sqlalchemy", "cache": "none", "taskQueue": "arq"},
]
DEVELOP_BLOCK = re.compile(r"## Develop\n.*?```sh\n(.*?)```", re.DOTALL)
WORKER_BLOCK = re.compile(r"## Background worker\n.*?```sh\n(.*?)```", re.DOTALL)
README_BROKER_URL = "redis://localhost:6379/1"
# A database of this machine's Redis that no other test of the repository uses.
BROKER_DB = 3
BROKER_URL = f"redis://127.0.0.1:6379/{BROKER_DB}"
DELIVERED = "product created notification delivered"
STOP_SECONDS = 15


def _commands(block: str) -> list[str]:
    """The commands of a README shell block, without their comments."""
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [command for command in commands if command]


def _redis(*command: str) -> str:
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-n", str(BROKER_DB), *command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _clear_broker(queue: str) -> None:
    """The keys the service's tasks write under its queue name, and arq's job keys."""
    keys = [
        key for pattern in (f"*{queue}*", "arq:*") for key in _redis("--scan", "--pattern", pattern).split()
    ]
    if keys:
        _redis("DEL", *keys)


def _wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.3)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the group that ``process`` leads is still running."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group, then SIGKILL to what is left of it after 30 s."""
    if _group_alive(process):
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(AssertionError):
            _wait_for(lambda: not _group_alive(process), 30, "the group to stop")
    if _group_alive(process):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


class Service:
    def __init__(self, values: dict[str, Any], root: Path) -> None:
        self.values = values
        self.root = root
        self.prefix = values["name"].replace("-", "_").upper() + "_"
        self.env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(self.prefix)},
            "UV_PYTHON_DOWNLOADS": "never",
            "VIRTUAL_ENV": "",
        }

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            shell=True,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def start(self, command: str, log: Path) -> subprocess.Popen[bytes]:
        """A long-running command, in a process group of its own (as a terminal's job)."""
        with log.open("wb") as output:
            return subprocess.Popen(
                command,
                shell=True,
                cwd=self.root,
                env=self.env,
                start_new_session=True,
                stdout=output,
                stderr=subprocess.STDOUT,
            )


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda choices: "-".join(map(str, choices.values())))
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Service:
    """The variant rendered, with the README's Develop setup done (all but ``make dev``)."""
    values = {**BASE_VALUES, **request.param}
    root = tmp_path_factory.mktemp(combination_id(values)) / "service"
    root.mkdir()
    run_template(Template.load(TEMPLATE_PATH), values, root)
    service = Service(values, root)
    subprocess.run(["git", "init", "--quiet"], cwd=root, check=True)
    *setup, serve = _commands(DEVELOP_BLOCK.findall((root / "README.md").read_text(encoding="utf-8"))[0])
    assert serve == "make dev", f"the README's last Develop step changed: {serve!r}"
    for step in setup:
        result = service.run(step)
        assert result.returncode == 0, f"{step!r} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return service


@pytest.fixture
def env_file(service: Service) -> Iterator[Path]:
    """The service's ``.env`` as the Develop steps left it, restored after the test."""
    path = service.root / ".env"
    original = path.read_text(encoding="utf-8")
    assert f"\n# {service.prefix}TASK_BROKER_URL=" in original, ".env.example sets the broker URL"
    yield path
    path.write_text(original, encoding="utf-8")


def test_make_worker_without_the_broker_url_exits_at_once_with_one_line(
    service: Service, env_file: Path, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = service.start("make worker", log)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"make worker still runs after 60 s:\n{log.read_text()[-3000:]}") from None
    finally:
        _stop(worker)
    lines = log.read_text().splitlines()
    recipe, *worker_lines, make_error = lines
    assert recipe.startswith("uv run "), lines
    # make reports the worker's own exit status.
    assert make_error.startswith("make: *** "), lines
    assert make_error.endswith("Error 2"), lines
    assert len(worker_lines) == 1, lines
    assert worker_lines[0].startswith(f"{service.prefix}TASK_BROKER_URL is not set: "), lines
    assert worker.returncode != 0


def test_readme_worker_steps_run_a_task_of_the_api_in_the_worker(
    service: Service, env_file: Path, tmp_path: Path
) -> None:
    block = WORKER_BLOCK.findall((service.root / "README.md").read_text(encoding="utf-8"))
    assert len(block) == 1, "the README has no Background worker block"
    steps = _commands(block[0])
    assert steps[0] == "make deps", steps
    assert steps[-2:] == ["make dev", "make worker"], steps
    assert any(README_BROKER_URL in step for step in steps), f"no step sets {README_BROKER_URL}: {steps}"
    queue = service.values["name"]
    _clear_broker(queue)
    port = free_port()
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for step in steps[1:-2]:  # make deps: the machine's Redis stands in (see the docstring)
            result = service.run(step.replace(README_BROKER_URL, BROKER_URL))
            assert result.returncode == 0, f"{step!r} failed:\n{result.stdout}\n{result.stderr}"
        processes["api"] = service.start(f"make dev PORT={port}", api_log)
        processes["worker"] = service.start("make worker", worker_log)
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert processes["api"].poll() is None, "make dev exited"
            try:
                return request_json(f"{base}/health/ready")[0] == 200
            except OSError:
                return False

        _wait_for(ready, 120, "the API")
        status, report = request_json(f"{base}/health/ready")
        assert (status, report["status"]) == (200, "ok"), report
        assert "task_broker" in json.dumps(report), f"the API does not use the broker: {report}"

        created_status, created = request_json(f"{base}/api/v1/products", {"name": "Widget", "price": "4.50"})
        assert created_status == 201, created
        product_id = created["id"]
        delivered_key = f"{queue}:notifications:delivered:{product_id}"

        def delivered_by_worker() -> bool:
            assert processes["worker"].poll() is None, "make worker exited"
            return any(
                DELIVERED in line and product_id in line for line in worker_log.read_text().splitlines()
            )

        _wait_for(delivered_by_worker, 120, "the worker's delivery line")
        assert _redis("EXISTS", delivered_key) == "1", "no delivery record in the broker's Redis"
        assert DELIVERED not in api_log.read_text(), "the API ran the task itself"

        # SIGTERM to the job, as a terminal's job control sends it: make, uv and the worker.
        worker = processes["worker"]
        os.killpg(worker.pid, signal.SIGTERM)
        stopping = time.monotonic()
        _wait_for(lambda: not _group_alive(worker), STOP_SECONDS, "the worker to stop after SIGTERM")
        assert time.monotonic() - stopping < STOP_SECONDS
    except AssertionError as failure:
        raise AssertionError(
            f"{failure}\nAPI output:\n{api_log.read_text()[-4000:]}\nworker output:\n"
            f"{worker_log.read_text()[-4000:] if worker_log.exists() else ''}"
        ) from None
    finally:
        for process in processes.values():
            _stop(process)
        _clear_broker(queue)
