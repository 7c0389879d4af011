"""The generated service against a peer: the s3rius FastAPI-template (PyPI package
`fastapi_template`, PEER_VERSION), product GET by id and create, side by side.

The peer is rendered at run time (nothing of its code is kept): PostgreSQL, SQLAlchemy, a
REST API, its Alembic migrations and its dummy model. It has no GET by id, so one is added
in its own style (a DAO method and a view, as its list route is written). It is installed
with uv from PyPI (it ships no lock: uv resolves its pyproject's ranges, without its dev
group, as its Dockerfile's `uv sync --no-dev` does) on the same Python as the service,
migrated on a database of its own (created and dropped) on the service's PostgreSQL server: a
private one started for the run (harness.private_postgres), or the one at BENCH_POSTGRES_URL
when it is set. It is run as its Dockerfile runs it (`python -m peer_svc`: uvicorn with its
access log, uvloop and httptools, which its `uvicorn[standard]` installs and uvicorn picks by
itself).

The service is the template's default with Datadog off (aurora-postgresql, orm sqlalchemy),
with its shipped defaults (harness.shipped_service_env); both run one worker per process, in
several processes each, with their default pools. After the loads, the service's database
must hold no more connections than its pools' size (harness.service_pool) over its processes.

What the two routes do differs; FAIRNESS lists it (the docs page repeats it). Targets, at 5
and 32 connections per process: at least 1.5x the peer's requests per second on GET and on
create, and a p99 at or below the peer's (128 is measured and shown, without a target).

Usage: uv run python benchmarks/peers.py [--seconds 5] [--rounds 3] [--processes 2]
    [--connections 5,32,128]
Needs: wrk, psql and uv on PATH, PyPI, and PostgreSQL's server binaries (Debian package
`postgresql`) unless BENCH_POSTGRES_URL is set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from harness import (
    NEW_PRODUCT,
    PACKAGE,
    TENANT,
    App,
    Load,
    Postgres,
    Request,
    Timing,
    benchmark_main,
    pool_connections,
    render_and_install,
    service_pool,
    shipped_defaults,
    shipped_service_env,
    start_servers,
    stop_servers,
    sweep,
    uvicorn,
)

PEER_VERSION = "6.1.2"
PEER_PACKAGE = "peer_svc"
PEER_PREFIX = "PEER_SVC_"
# SQLAlchemy's defaults, which the peer keeps: pool_size 5, max_overflow 10.
PEER_POOL_CONNECTIONS = 5 + 10
NEW_DUMMY = {"name": "Widget"}
# Connections per process with a target; the others are measured and shown only.
TARGET_CONNECTIONS = ("5", "32")
RPS_TARGET = 1.5
# (what differs, as one sentence each): the service's routes do all of this, the peer's not.
FAIRNESS = (
    "Both apps run one uvicorn worker per process with uvloop and httptools, two processes "
    "each, on the same Python, with SQLAlchemy 2 and asyncpg, their default pools (the peer "
    "SQLAlchemy's: 5 connections and 10 of overflow per process; the service's above) and one "
    "access-log line per request.",
    "The service's requests pass its middleware (correlation ID, security headers, body and "
    "header limits, a deadline, Prometheus metrics) and its rate limiter, which counts every "
    "request per client; the peer has no middleware and no rate limit.",
    "The service's access log is a structured JSON line with the route template, status, "
    "duration and correlation ID; the peer's is uvicorn's plain text line.",
    "The service scopes every product to the tenant in X-Tenant-ID (part of the key and of "
    "every query); the peer's dummy model has no tenant.",
    "The service's product has nine columns (UUID key, name, description, price as a "
    "decimal, status, two timestamps, a version for optimistic locking); the peer's dummy "
    "has two (an integer key and a name).",
    "The service's create validates every field (lengths, patterns, price format), refuses "
    "unknown fields, writes in a transaction committed before it answers, and answers 201 "
    "with the product, its Location and ETag; the peer's create (PUT /api/dummy/) checks that "
    "name is a string and answers 200 with no body, and commits after it has answered (a "
    "failed commit never reaches the client, and a read right after the answer can miss the "
    "row: this benchmark waits for its first dummy for that reason).",
    "The service reads in autocommit (no transaction); the peer's session commits after "
    "every request, reads included.",
    "The peer's GET by id is added by this benchmark in the peer's style (a DAO method and a "
    "view with a response model); it answers 404 for an unknown id.",
)
DAO_METHOD = '''
    async def get_dummy_by_id(self, dummy_id: int) -> Optional[DummyModel]:
        """
        Get a dummy model by its id.

        :param dummy_id: id of the dummy.
        :return: the dummy, or None.
        """
        rows = await self.session.execute(
            select(DummyModel).where(DummyModel.id == dummy_id),
        )
        return rows.scalars().one_or_none()
'''
VIEW = '''

@router.get("/{dummy_id}", response_model=DummyModelDTO)
async def get_dummy_model(
    dummy_id: int,
    dummy_dao: DummyDAO = Depends(),
) -> DummyModel:
    """
    Retrieve one dummy object from the database.

    :param dummy_id: id of the dummy object.
    :param dummy_dao: DAO for dummy models.
    :return: the dummy object.
    """
    dummy = await dummy_dao.get_dummy_by_id(dummy_id)
    if dummy is None:
        raise HTTPException(status_code=404, detail="Dummy model not found")
    return dummy
'''


def render_peer(root: Path, python: str) -> Path:
    """The peer rendered into ``root`` and installed on ``python``; its folder."""
    subprocess.run(
        [
            "uvx",
            "--from",
            f"fastapi_template=={PEER_VERSION}",
            "fastapi_template",
            *("--name", PEER_PACKAGE, "--quiet", "--api-type", "rest", "--db", "postgresql"),
            *("--orm", "sqlalchemy", "--ci", "none", "--migrations", "--dummy", "--routers"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
        # The generator runs `uv sync` itself, and only warns when it fails: no download of
        # another Python for it (the environment is made below, on the service's Python).
        env={**os.environ, "VIRTUAL_ENV": "", "UV_PYTHON_DOWNLOADS": "never"},
    )
    peer = root / PEER_PACKAGE
    dao = peer / PEER_PACKAGE / "db" / "dao" / "dummy_dao.py"
    dao.write_text(dao.read_text(encoding="utf-8") + DAO_METHOD, encoding="utf-8")
    views = peer / PEER_PACKAGE / "web" / "api" / "dummy" / "views.py"
    text = views.read_text(encoding="utf-8")
    views.write_text("from fastapi import HTTPException\n" + text + VIEW, encoding="utf-8")
    subprocess.run(
        ["uv", "sync", "--quiet", "--no-dev", "--compile-bytecode", "--python", python],
        cwd=peer,
        check=True,
        env={**os.environ, "VIRTUAL_ENV": ""},
    )
    check = "import httptools, uvloop"  # what uvicorn's "auto" picks when they are there
    subprocess.run([str(peer / ".venv" / "bin" / "python"), "-c", check], check=True)
    return peer


def _python_of(service_dir: Path) -> str:
    """The interpreter the service's environment was made with."""
    config = (service_dir / ".venv" / "pyvenv.cfg").read_text(encoding="utf-8")
    home = next(line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("home"))
    version = next(
        line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("version_info")
    )
    return str(Path(home) / f"python{'.'.join(version.split('.')[:2])}")


def peer_env(postgres: Postgres, database: str) -> dict[str, str]:
    server = urllib.parse.urlsplit(postgres.admin_url)
    return {
        **os.environ,
        "VIRTUAL_ENV": "",
        f"{PEER_PREFIX}HOST": "127.0.0.1",
        f"{PEER_PREFIX}RELOAD": "false",  # its .env file turns reloading on, for development
        f"{PEER_PREFIX}ENVIRONMENT": "prod",
        f"{PEER_PREFIX}DB_HOST": server.hostname or "127.0.0.1",
        f"{PEER_PREFIX}DB_PORT": str(server.port or 5432),
        f"{PEER_PREFIX}DB_USER": server.username or "postgres",
        f"{PEER_PREFIX}DB_PASS": server.password or "",
        f"{PEER_PREFIX}DB_BASE": database,
    }


def _send(url: str, method: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def _wait_for_first_dummy(base: str, timeout: float = 5) -> None:
    """Until the first dummy of the new table can be read: the peer commits a create after
    it has answered, so a read right after the answer can miss the row."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/dummy/1", timeout=timeout)
        except urllib.error.HTTPError as error:
            if error.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        else:
            return


def _compare(
    service_dir: Path,
    postgres: Postgres,
    database_url: str,
    peer: Path,
    peer_database: str,
    *,
    timing: Timing,
) -> tuple[dict[str, int], dict[str, dict[str, Load]]]:
    """The service's pool (service_pool) and each target's load at each number of
    connections."""
    service_env = shipped_service_env(database_url)
    pool = service_pool(service_dir, service_env)
    service_connections = timing.processes * pool_connections(pool)
    postgres.check_connection_budget(
        {"service": service_connections, "peer": timing.processes * PEER_POOL_CONNECTIONS}
    )
    env = peer_env(postgres, peer_database)
    subprocess.run(
        [str(peer / ".venv" / "bin" / "alembic"), "upgrade", "head"], cwd=peer, env=env, check=True
    )
    venv = service_dir / ".venv"
    servers = start_servers(
        {
            "service": (
                App(uvicorn(venv, f"{PACKAGE}.main:create_app", factory=True), "/health/ready"),
                service_dir,
                service_env,
            ),
            "peer": (
                App(
                    [str(peer / ".venv" / "bin" / "python"), "-m", PEER_PACKAGE],
                    "/api/health",
                    f"{PEER_PREFIX}PORT",
                ),
                peer,
                env,
            ),
        },
        timing.processes,
    )
    tenant = {"X-Tenant-ID": TENANT}
    try:
        product_id = _send(f"{servers['service'][0].base}/api/v1/products", "POST", NEW_PRODUCT, tenant)["id"]
        _send(f"{servers['peer'][0].base}/api/dummy/", "PUT", NEW_DUMMY, {})
        _wait_for_first_dummy(servers["peer"][0].base)
        targets = {
            "get service": ("service", Request(f"/api/v1/products/{product_id}", headers=tenant)),
            "get peer": ("peer", Request("/api/dummy/1")),
            "create service": ("service", Request("/api/v1/products", "POST", NEW_PRODUCT, tenant)),
            "create peer": ("peer", Request("/api/dummy/", "PUT", NEW_DUMMY)),
        }
        results = sweep(servers, targets, timing, "peers")
        # A pool that opened more than its size would make the pool the page states untrue.
        opened = postgres.connections_to(database_url.rsplit("/", 1)[1])
        if opened > service_connections:
            raise RuntimeError(
                f"the service's {timing.processes} process(es) hold {opened} connections, more "
                f"than their pools' {service_connections}"
            )
    finally:
        stop_servers(servers)
    return pool, results


def verdicts(results: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """Each target at each connection count with one: (what, measured, the target, met)."""
    found = []
    for connections in TARGET_CONNECTIONS:
        if connections not in results["loads"]:
            continue
        loads = results["loads"][connections]
        for route in ("get", "create"):
            ours, theirs = loads[f"{route} service"], loads[f"{route} peer"]
            rps = ours["requests_per_second"] / theirs["requests_per_second"]
            found.append(
                (f"{route} -c{connections} req/s service/peer", rps, f">= {RPS_TARGET}", rps >= RPS_TARGET)
            )
            p99 = ours["p99_ms"] / theirs["p99_ms"]
            found.append((f"{route} -c{connections} p99 service/peer", p99, "<= 1", p99 <= 1))
    return found


def run(timing: Timing, postgres: Postgres) -> dict[str, Any]:
    """As JSON data: the service's shipped defaults (harness.SHIPPED_DEFAULTS), its pool
    (harness.service_pool) and the loads of both apps (connections, target, Load fields)."""
    root = Path(tempfile.mkdtemp(prefix="peer-bench-"))
    try:
        service_dir = render_and_install(
            root / "service", database="aurora-postgresql", orm="sqlalchemy", tracing="none"
        )
        peer = render_peer(root, _python_of(service_dir))
        with postgres.migrated_database(service_dir) as url, postgres.database() as peer_database:
            pool, loads = _compare(service_dir, postgres, url, peer, peer_database, timing=timing)
        defaults = shipped_defaults(service_dir)
    finally:
        shutil.rmtree(root)
    results = {
        "service_defaults": defaults,
        "service_pool": pool,
        "loads": {
            connections: {name: dataclasses.asdict(load) for name, load in by_name.items()}
            for connections, by_name in loads.items()
        },
    }
    for what, value, target, met in verdicts(results):
        print(f"target {what} {value:.2f} {target}: {'met' if met else 'MISSED'}")
    return results


def main() -> int:
    return benchmark_main(__doc__.splitlines()[0], run, processes=2)


if __name__ == "__main__":
    raise SystemExit(main())
