"""Shared parts of the service benchmarks: render and install a variant, serve an app with
uvicorn from that variant's environment, and drive it with wrk over loopback."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scaffold.workflow import Template, run_template  # noqa: E402
from template_matrix import BASE_VALUES, TEMPLATE_PATH  # noqa: E402

PACKAGE = "orders_api"
PREFIX = "ORDERS_API_"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# Connections per server process that wrk keeps open; the report sweeps them all.
CONNECTIONS = (5, 32, 128)
# wrk's own timeout: a request waiting longer counts as an error (the service's pool waits up
# to 5 s for a connection, and that wait is what a slow run should show, as latency).
WRK_TIMEOUT = "10s"
# The tenant of every benchmark request, and the product each create sends.
TENANT = "bench"
NEW_PRODUCT = {"name": "Widget", "description": "A benchmark widget", "price": "9.99"}


@dataclass(frozen=True)
class Request:
    """What wrk sends, every time: GET by default, or a method with a JSON body."""

    path: str
    method: str = "GET"
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def wrk_script(self) -> str:
        """The Lua script that makes wrk send this request (its -H and URL give only GET)."""
        lines = [f"wrk.method = {_lua_string(self.method)}"]
        headers = dict(self.headers)
        if self.body is not None:
            lines.append(f"wrk.body = {_lua_string(json.dumps(self.body))}")
            headers["Content-Type"] = "application/json"
        lines += [
            f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}" for name, value in headers.items()
        ]
        return "\n".join(lines) + "\n"


def _lua_string(text: str) -> str:
    # Benchmark bodies and headers are printable ASCII: JSON's escapes are Lua's for them.
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"not printable ASCII: {text!r}")
    return json.dumps(text)


def shipped_service_env(database_url: str, redis_url: str | None = None) -> dict[str, str]:
    """The service's environment as a deployment sets it, every other setting at its shipped
    default (see shipped_defaults: the pool, LOG_LEVEL and so one access-log line per
    request). One exception: the rate limit. Its default is a number of requests per client
    and minute that wrk, one client, exceeds within seconds: the limit is raised out of wrk's
    reach, so the limiter still counts every request but never refuses one."""
    env = {
        **os.environ,
        "VIRTUAL_ENV": "",
        # Not "local", which would allow in-process stand-ins for unset connection URLs.
        f"{PREFIX}ENVIRONMENT": "development",
        f"{PREFIX}DATABASE_URL": database_url,
        f"{PREFIX}RATE_LIMIT_REQUESTS": str(10**9),
    }
    if redis_url is not None:
        env[f"{PREFIX}REDIS_URL"] = redis_url
    return env


@dataclass
class Load:
    requests_per_second: float
    p99_ms: float
    # CPU time the server process spent per request: on a shared two-core machine it moves
    # far less with other load than requests per second do.
    cpu_us_per_request: float


@dataclass(frozen=True)
class Timing:
    """How long and how often each target is loaded: ``rounds`` alternating rounds of
    ``seconds`` on each of ``processes`` server processes, at each of ``connections`` (wrk's
    connections per process)."""

    seconds: int
    rounds: int
    processes: int
    connections: tuple[int, ...]


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


def create_product(base: str) -> str:
    """Creates NEW_PRODUCT for TENANT through the service at ``base``; returns its ID."""
    request = urllib.request.Request(
        f"{base}/api/v1/products",
        data=json.dumps(NEW_PRODUCT).encode(),
        headers={"Content-Type": "application/json", "X-Tenant-ID": TENANT},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        product_id: str = json.load(response)["id"]
        return product_id


# The defaults the benchmarks depend on, read from the rendered service's Settings.
SHIPPED_DEFAULTS = (
    "database_max_connections",
    "log_level",
    "rate_limit_requests",
    "rate_limit_window_seconds",
)


def _service_python(service_dir: Path, code: str, env: dict[str, str] | None = None) -> Any:
    """What ``code`` prints as JSON, run on the service's own interpreter in its folder."""
    result = subprocess.run(
        [str(service_dir / ".venv" / "bin" / "python"), "-c", code],
        cwd=service_dir,
        check=True,
        capture_output=True,
        text=True,
        env={**(os.environ if env is None else env), "VIRTUAL_ENV": ""},
    )
    return json.loads(result.stdout)


def shipped_defaults(service_dir: Path) -> dict[str, Any]:
    """SHIPPED_DEFAULTS of the service rendered in ``service_dir``, as its code declares them."""
    defaults: dict[str, Any] = _service_python(
        service_dir,
        f"import json; from {PACKAGE}.core.config import Settings; "
        f"print(json.dumps({{name: Settings.model_fields[name].default for name in {SHIPPED_DEFAULTS!r}}}))",
    )
    return defaults


def service_pool(service_dir: Path, env: dict[str, str]) -> dict[str, int]:
    """The SQL pool each process of the service opens with ``env``, as the service's own start-up
    computes it (``db.connection_budget``): ``size`` connections in each of ``pools`` pools (no
    overflow), for ``workers`` (WEB_CONCURRENCY) processes, a derived size at most
    ``derived_size_limit``."""
    pool: dict[str, int] = _service_python(
        service_dir,
        "import json\n"
        f"from {PACKAGE}.core.config import load_settings\n"
        f"from {PACKAGE}.db.connection_budget import DERIVED_POOL_SIZE_LIMIT, "
        "pool_size_within_budget, pools_per_worker, uvicorn_workers\n"
        "settings, workers = load_settings(), uvicorn_workers()\n"
        "print(json.dumps({'size': pool_size_within_budget(settings, workers), "
        "'pools': pools_per_worker(settings), 'workers': workers, "
        "'derived_size_limit': DERIVED_POOL_SIZE_LIMIT}))",
        env,
    )
    return pool


def pool_connections(pool: dict[str, int]) -> int:
    """The most connections one service process may open (service_pool's pools)."""
    return pool["size"] * pool["pools"]


# Enough for every pool of a run (each benchmark checks its own: check_connection_budget).
PRIVATE_MAX_CONNECTIONS = 400


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL server's binaries (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql), "
            "and BENCH_POSTGRES_URL is not set"
        )
    return found[-1].parent


@contextmanager
def _terminate_raises() -> Iterator[None]:
    """SIGTERM raises SystemExit, as Ctrl-C raises KeyboardInterrupt, so cleanup runs."""

    def raise_exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, raise_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def private_postgres() -> Iterator[str]:
    """A PostgreSQL server of this run alone, in a temporary folder: every setting at
    initdb's defaults but max_connections (PRIVATE_MAX_CONNECTIONS), the port (a free one),
    where it listens (127.0.0.1 only, trust authentication) and track_commit_timestamp (on:
    events_publish reads when each product's transaction committed). Its admin URL; stopped
    and deleted afterwards, also on Ctrl-C, SIGTERM or an error."""
    bin_dir = _postgres_bin()
    # PostgreSQL refuses to run as root.
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with _terminate_raises():
        root = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
        try:
            if as_owner:
                shutil.chown(root, "postgres", "postgres")
            data, log = root / "data", root / "server.log"
            port = free_port()
            subprocess.run(
                [
                    *as_owner,
                    str(bin_dir / "initdb"),
                    *("--pgdata", str(data), "--username", "postgres", "--auth", "trust"),
                    *("--no-sync", "--no-instructions"),
                ],
                check=True,
                capture_output=True,
            )
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
                f"-c max_connections={PRIVATE_MAX_CONNECTIONS} -c track_commit_timestamp=on"
            )
            pg_ctl = [*as_owner, str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--silent"]
            # Its own session: Ctrl-C reaches this process, which stops the server below.
            started = subprocess.run(
                [*pg_ctl, "--log", str(log), "--options", options, "--wait", "start"],
                check=False,
                start_new_session=True,
            )
            try:
                if started.returncode != 0:
                    raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text(errors='replace')}")
                yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
            finally:
                stop = [*pg_ctl, "--mode", "fast", "--wait", "stop"]
                subprocess.run(stop, check=False, capture_output=True)
        finally:
            shutil.rmtree(root)


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL server the benchmarks make their databases on, by its admin URL."""

    admin_url: str

    def _psql(self, sql: str) -> None:
        subprocess.run(["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)

    def value(self, sql: str, database: str | None = None) -> str:
        """What ``sql`` answers, unaligned (a line per row, columns split by ``|``), in
        ``database`` (by default the admin URL's)."""
        url = self.admin_url if database is None else f"{self.admin_url.rsplit('/', 1)[0]}/{database}"
        result = subprocess.run(
            ["psql", url, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def check_connection_budget(self, pools: dict[str, int]) -> None:
        """Fails unless the pools together (connections each app may open, over all its
        processes) fit the connections the server allows, less those it keeps for superusers
        and those other clients hold now: a pool refused a connection would measure errors,
        not speed."""
        allowed = int(self.value("SHOW max_connections")) - int(
            self.value("SHOW superuser_reserved_connections")
        )
        # Other clients' connections, without this query's own.
        in_use = int(
            self.value("SELECT count(*) - 1 FROM pg_stat_activity WHERE backend_type = 'client backend'")
        )
        needed = sum(pools.values())
        if needed > allowed - in_use:
            raise RuntimeError(
                f"the pools {pools} may open {needed} connections; PostgreSQL allows {allowed}, "
                f"and other clients hold {in_use}"
            )

    def connections_to(self, database: str) -> int:
        """Client connections open to ``database`` now."""
        return int(self.value(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"))

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database; its name. Dropped afterwards."""
        name = f"bench_{uuid4().hex[:10]}"
        self._psql(f"CREATE DATABASE {name}")
        try:
            yield name
        finally:
            self._psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @contextmanager
    def migrated_database(self, service_dir: Path) -> Iterator[str]:
        """A new database, migrated with the service's own Alembic as a deployment's migration
        Job would; its SQLAlchemy URL."""
        with self.database() as name:
            server = self.admin_url.rsplit("/", 1)[0]
            url = f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
            # "local" only so that other connection settings (Redis, ...) may stay unset.
            env = {
                **os.environ,
                "VIRTUAL_ENV": "",
                f"{PREFIX}ENVIRONMENT": "local",
                f"{PREFIX}DATABASE_URL": url,
            }
            alembic = str(service_dir / ".venv" / "bin" / "alembic")
            subprocess.run([alembic, "upgrade", "head"], cwd=service_dir, env=env, check=True)
            yield url


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """BENCH_POSTGRES_URL's server when it is set, else a private one for the run
    (private_postgres): the machine's shared server could not hold every pool of a run."""
    url = os.environ.get("BENCH_POSTGRES_URL")
    if url is not None:
        yield Postgres(url)
        return
    with private_postgres() as admin_url:
        yield Postgres(admin_url)


def uvicorn(venv: Path, app: str, *, factory: bool) -> list[str]:
    """uvicorn from the environment itself (`uv run` would add its own start-up time), one
    worker, uvloop and httptools, no ``server`` header. The service (``factory``) as its
    Dockerfile runs it: with ``--proxy-headers`` and uvicorn's logging left as it is (the
    service's logging replaces it, and writes its own access log). The bare app without an
    access log, which would write a line per request."""
    command = [str(venv / "bin" / "uvicorn"), app, "--loop", "uvloop", "--http", "httptools"]
    command += ["--workers", "1", "--no-server-header"]
    if factory:
        return [*command, "--factory", "--proxy-headers"]
    return [*command, "--log-level", "warning", "--no-access-log"]


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


@dataclass(frozen=True)
class App:
    """How to start one app: its command, the path that answers 200 once it is up, and the
    environment variable that takes its port (None: ``--port`` is appended)."""

    command: list[str]
    probe_path: str
    port_variable: str | None = None


class Server:
    """An app served on a free port until ``stop()``; ``startup_seconds`` is process start
    to the first 200 from its probe path."""

    def __init__(self, app: App, cwd: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # What the server prints (access logs included), for the error when it fails; open
        # as long as the server.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115
        command = app.command
        if app.port_variable is None:
            command = [*command, "--port", str(self.port)]
        else:
            env = {**env, app.port_variable: str(self.port)}
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.startup_seconds = self._wait_for_200(self.base + app.probe_path)

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

    def load(self, request: Request, seconds: int, connections: int) -> Load:
        """wrk sending ``request`` over ``connections`` connections for ``seconds``; every
        answer must be a success, and no request may fail or time out."""
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(request.wrk_script())
            script.flush()
            cpu_before = _cpu_seconds(self.process.pid)
            load = [f"-c{connections}", f"-d{seconds}s", "--timeout", WRK_TIMEOUT, "-s", script.name]
            result = subprocess.run(
                ["wrk", "-t1", *load, "--latency", self.base + request.path],
                capture_output=True,
                text=True,
                check=True,
            )
            cpu_seconds = _cpu_seconds(self.process.pid) - cpu_before
        if "Non-2xx or 3xx responses" in result.stdout or "Socket errors" in result.stdout:
            raise RuntimeError(
                f"{request.method} {self.base + request.path} failed under load:\n{result.stdout}\n"
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
    apps: dict[str, tuple[App, Path, dict[str, str]]], processes: int
) -> dict[str, list[Server]]:
    """``processes`` servers of each app (how to start it, its folder and environment),
    started in turn: one process of an app can stay slower than another of the same app on
    this kind of machine, so each app is measured in several."""
    servers: dict[str, list[Server]] = {name: [] for name in apps}
    try:
        for _ in range(processes):
            for name, (app, cwd, env) in apps.items():
                servers[name].append(Server(app, cwd, env))
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: dict[str, list[Server]]) -> None:
    for started in servers.values():
        for server in started:
            server.stop()


def best_of_alternating_rounds(
    targets: dict[str, list[tuple[Server, Request]]],
    *,
    seconds: int,
    rounds: int,
    connections: int,
) -> dict[str, Load]:
    """Each target (a request to each of its servers) loaded in turn, ``rounds`` times, so
    machine noise hits all alike. Of each target's rounds and servers: the most requests per
    second and the least CPU per request (a round that noise slowed is not the app's speed),
    and the median p99 (the lowest p99 is one lucky round: it is 0.65x of the median now and
    then, for the same process)."""
    rounds_of: dict[str, list[Load]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, requests in targets.items():
            for server, request in requests:
                rounds_of[name].append(server.load(request, seconds, connections))
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
            f"{label} {name:16} {load.requests_per_second:9.0f} req/s   p99 {load.p99_ms:7.2f} ms"
            f"   CPU {load.cpu_us_per_request:7.1f} us/request",
            flush=True,
        )


def connections_argument(text: str) -> tuple[int, ...]:
    """``--connections 5,32,128``: wrk's connections per server process, each measured."""
    return tuple(int(part) for part in text.split(","))


def sweep(
    servers: dict[str, list[Server]],
    targets: dict[str, tuple[str, Request]],
    timing: Timing,
    label: str,
) -> dict[str, dict[str, Load]]:
    """Each target (the app serving it and its request) in alternating rounds at each of the
    timing's numbers of connections; the best loads by connections, printed as they come."""
    results: dict[str, dict[str, Load]] = {}
    for connections in timing.connections:
        best = best_of_alternating_rounds(
            {
                name: [(server, request) for server in servers[app]]
                for name, (app, request) in targets.items()
            },
            seconds=timing.seconds,
            rounds=timing.rounds,
            connections=connections,
        )
        print_loads(f"{label} -c{connections:<3}", best)
        results[str(connections)] = best
    return results


def benchmark_main(description: str, run: Callable[[Timing, Postgres], object], *, processes: int) -> int:
    """A benchmark's command line: its timing from the arguments, on one PostgreSQL server."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=processes, help="server processes per app")
    parser.add_argument("--connections", type=connections_argument, default="5,32,128")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("psql") is None:
        print("needs wrk and psql (apt-get install wrk postgresql-client)", file=sys.stderr)
        return 2
    with postgres_server() as postgres:
        run(Timing(args.seconds, args.rounds, args.processes, args.connections), postgres)
    return 0
