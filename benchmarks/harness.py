"""Shared parts of the service benchmarks: render and install a variant, serve an app with
uvicorn from that variant's environment, and drive it with wrk over loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scaffold.workflow import Template, run_template  # noqa: E402
from template_matrix import BASE_VALUES, TEMPLATE_PATH  # noqa: E402

PACKAGE = "orders_api"
PREFIX = "ORDERS_API_"
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Load:
    requests_per_second: float
    p99_ms: float
    # CPU time the server process spent per request: on a shared two-core machine it moves
    # far less with other load than requests per second do.
    cpu_us_per_request: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def render_and_install(target: Path, **choices: Any) -> Path:
    """Render the template with ``choices`` over the base values into ``target`` and
    ``uv sync`` it, with bytecode compiled as the Dockerfile does (start-up time would
    otherwise include compiling every module on first import); returns ``target``."""
    target.mkdir(parents=True)
    run_template(Template.load(TEMPLATE_PATH), {**BASE_VALUES, **choices}, target)
    subprocess.run(
        ["uv", "sync", "--quiet", "--compile-bytecode"],
        cwd=target,
        check=True,
        env={**os.environ, "VIRTUAL_ENV": ""},
    )
    return target


def _psql(sql: str) -> None:
    subprocess.run(["psql", POSTGRES_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


@contextmanager
def migrated_postgres_database(service_dir: Path) -> Iterator[str]:
    """A new database on the machine's PostgreSQL (BENCH_POSTGRES_URL), migrated with the
    service's own Alembic as a deployment's migration Job would; its SQLAlchemy URL.
    Dropped afterwards."""
    name = f"bench_{uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {name}")
    try:
        server = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        url = f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
        # "local" only so that other connection settings (Redis, ...) may stay unset.
        env = {**os.environ, "VIRTUAL_ENV": "", f"{PREFIX}ENVIRONMENT": "local", f"{PREFIX}DATABASE_URL": url}
        alembic = str(service_dir / ".venv" / "bin" / "alembic")
        subprocess.run([alembic, "upgrade", "head"], cwd=service_dir, env=env, check=True)
        yield url
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def uvicorn(venv: Path, app: str, *, factory: bool) -> list[str]:
    """uvicorn from the environment itself (`uv run` would add its own start-up time), one
    worker, uvloop and httptools, no ``server`` header. The service (``factory``) as its
    Dockerfile runs it: with ``--proxy-headers`` and uvicorn's access log left on (the
    service's logging replaces it). The bare app without an access log, which would write a
    line per request."""
    command = [str(venv / "bin" / "uvicorn"), app, "--loop", "uvloop", "--http", "httptools"]
    command += ["--workers", "1", "--log-level", "warning", "--no-server-header"]
    return [*command, "--factory", "--proxy-headers"] if factory else [*command, "--no-access-log"]


def _parse_wrk(output: str, cpu_seconds: float) -> Load:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return Load(rps, float(value) * scale, cpu_seconds / requests * 1e6)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """An app served on a free port until ``stop()``; ``startup_seconds`` is process start
    to the first 200 from ``probe_path``."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], probe_path: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # What the server prints, for the error when it fails; open as long as the server.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=cwd,
            env=env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.startup_seconds = self._wait_for_200(self.base + probe_path)

    def _wait_for_200(self, url: str, timeout: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"no 200 from {url} within {timeout} s")

    def load(self, path: str, seconds: int, headers: dict[str, str] | None = None) -> Load:
        header_args = [
            argument for name, value in (headers or {}).items() for argument in ("-H", f"{name}: {value}")
        ]
        cpu_before = _cpu_seconds(self.process.pid)
        result = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", *header_args, self.base + path],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu_seconds = _cpu_seconds(self.process.pid) - cpu_before
        if "Non-2xx or 3xx responses" in result.stdout:
            raise RuntimeError(
                f"{self.base + path} answered errors under load:\n{result.stdout}\n"
                f"The server printed (last lines):\n{self.output()}"
            )
        return _parse_wrk(result.stdout, cpu_seconds)

    def output(self, lines: int = 40) -> str:
        self._output.seek(0)
        return "\n".join(self._output.read().decode(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self._output.close()


def start_servers(
    apps: dict[str, tuple[list[str], str]], processes: int, cwd: Path, env: dict[str, str]
) -> dict[str, list[Server]]:
    """``processes`` servers of each app (its command and the path that answers 200 once it
    is up), started in turn: one process of an app can stay slower than another of the same
    app on this kind of machine, so each app is measured in several."""
    servers: dict[str, list[Server]] = {name: [] for name in apps}
    try:
        for _ in range(processes):
            for name, (command, probe_path) in apps.items():
                servers[name].append(Server(command, cwd, env, probe_path))
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: dict[str, list[Server]]) -> None:
    for started in servers.values():
        for server in started:
            server.stop()


def best_of_alternating_rounds(
    targets: dict[str, list[tuple[Server, str]]],
    *,
    seconds: int,
    rounds: int,
    headers: dict[str, str] | None = None,
) -> dict[str, Load]:
    """Each target (a path on each of its servers) loaded in turn, ``rounds`` times, so
    machine noise hits all alike. Of each target's rounds and servers: the most requests per
    second and the least CPU per request (a round that noise slowed is not the app's speed),
    and the median p99 (the lowest p99 is one lucky round: it is 0.65x of the median now and
    then, for the same process)."""
    rounds_of: dict[str, list[Load]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, paths in targets.items():
            for server, path in paths:
                rounds_of[name].append(server.load(path, seconds, headers))
    return {
        name: Load(
            max(load.requests_per_second for load in loads),
            statistics.median(load.p99_ms for load in loads),
            min(load.cpu_us_per_request for load in loads),
        )
        for name, loads in rounds_of.items()
    }


def print_loads(label: str, loads: dict[str, Load]) -> None:
    for name, load in loads.items():
        print(
            f"{label} {name:14} {load.requests_per_second:9.0f} req/s   p99 {load.p99_ms:7.2f} ms"
            f"   CPU {load.cpu_us_per_request:7.1f} us/request"
        )
