"""What the generated service's data path costs: product GET by id against bare FastAPI routes
doing the same read by hand, in the same run, under the same load.

- PostgreSQL, orm sqlalchemy and orm none: the service's `GET /api/v1/products/{id}` (every
  middleware, tenant scope, session per request, repository, response model) against a bare
  route running the same SELECT with a raw asyncpg pool. Targets: ratio of requests per
  second at least 0.6 with the ORM, 0.8 with Core.
- Redis cache: the cached GET of the same product against a bare route doing one raw Redis
  GET of the same key. Target: at least 0.85.

Each comparison also serves a floor: a bare route doing only what the service's
requirements make every such request do. For the ORM and Core it reads the same product
through SQLAlchemy (the service's own mapped class or table, an AsyncSession or a pooled
connection in autocommit), with nothing else; for the cache it sends the GET, and once per
50 requests the rate limit's lease of the client's budget (one Redis command). No service
built on those parts can pass its floor, so "floor/bare" is the best ratio reachable, and
"service/floor" what the service's own layers cost on top.

Each set is served from one rendered variant's environment with uvicorn (one worker,
uvloop, httptools), each app in several processes, and driven by wrk over loopback in
alternating rounds; the best round of each counts. Uses the machine's PostgreSQL (BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/postgres; a fresh database is created and dropped) and
Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/14).

Usage: uv run python benchmarks/data_reads.py [--seconds 5] [--rounds 3] [--processes 2]
Needs: wrk (Debian package `wrk`) and uv on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from harness import (
    PACKAGE,
    PREFIX,
    Load,
    best_of_alternating_rounds,
    migrated_postgres_database,
    print_loads,
    render_and_install,
    start_servers,
    stop_servers,
    uvicorn,
)

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TENANT = "bench"
# Connections per pool, as many as before the floors came (SQLAlchemy's pool spends
# noticeably more CPU when requests queue for it). Each process of the bare app holds two
# pools (asyncpg and the floor's SQLAlchemy engine) and each service process one: two
# processes per app fill 90 of PostgreSQL's default 100 connections.
POOL_SIZE = 15
# The floor route of each comparison (see BARE_APP).
FLOOR_OF = {"sqlalchemy": "orm", "none": "core", "sqlalchemy-cache": "cache"}
TARGETS = {"sqlalchemy": 0.6, "none": 0.8, "cache": 0.85}
BARE_APP = """
import os
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
from fastapi import FastAPI, Header, HTTPException, Response

FLOOR = os.environ["BENCH_FLOOR"]  # which read the floor route makes: orm, core or cache
POOL_SIZE = int(os.environ["BENCH_POOL_SIZE"])


@asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=5, max_size=POOL_SIZE)
    app.state.redis = app.state.engine = None
    if FLOOR == "cache":  # only the cached variant has redis installed
        from redis.asyncio import Redis

        app.state.redis = Redis.from_url(os.environ["BENCH_REDIS_URL"])
    else:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(os.environ["BENCH_SQLALCHEMY_URL"], pool_size=POOL_SIZE, max_overflow=0)
        # Reads in autocommit, as the service makes them on PostgreSQL.
        app.state.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    yield
    await app.state.pool.close()
    if app.state.redis is not None:
        await app.state.redis.aclose()
    if app.state.engine is not None:
        await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/products/{product_id}")
async def get_product(product_id: UUID, x_tenant_id: str = Header()):
    row = await app.state.pool.fetchrow(
        "SELECT * FROM products WHERE tenant_id = $1 AND id = $2", x_tenant_id, product_id
    )
    if row is None:
        raise HTTPException(404)
    return dict(row)


@app.get("/cached/{key}")
async def cached(key: str):
    return Response(await app.state.redis.get(key), media_type="application/json")


# The floors read the way the service does (and the cheapest way SQLAlchemy offers): one
# statement built once, executed with the key's values.
if FLOOR == "orm":
    from sqlalchemy import bindparam, select
    from sqlalchemy.ext.asyncio import AsyncSession

    from orders_api.products.orm import ProductRecord

    BY_KEY = select(ProductRecord).where(
        ProductRecord.tenant_id == bindparam("tenant_id"), ProductRecord.id == bindparam("product_id")
    )

    @app.get("/floor/{product_id}")
    async def floor(product_id: UUID, x_tenant_id: str = Header()):
        async with AsyncSession(app.state.engine) as session:
            record = await session.scalar(BY_KEY, {"tenant_id": x_tenant_id, "product_id": product_id})
        if record is None:
            raise HTTPException(404)
        return record.to_domain()

elif FLOOR == "core":
    from sqlalchemy import bindparam, select

    from orders_api.products.table import from_row, products

    BY_KEY = select(products).where(
        products.c.tenant_id == bindparam("tenant_id"), products.c.id == bindparam("product_id")
    )

    @app.get("/floor/{product_id}")
    async def floor(product_id: UUID, x_tenant_id: str = Header()):
        async with app.state.engine.connect() as connection:
            result = await connection.execute(BY_KEY, {"tenant_id": x_tenant_id, "product_id": product_id})
            row = result.first()
        if row is None:
            raise HTTPException(404)
        return from_row(row)

else:

    # The service's default RATE_LIMIT_MAX_LEASE_REQUESTS: one rate-limit lease from Redis
    # per that many requests of a client, once its leases have grown.
    LEASE_REQUESTS = 50
    leased = 0

    @app.get("/floor/{key}")
    async def floor(key: str):
        global leased
        if leased == 0:
            await app.state.redis.incrby("bench-rate-limit", LEASE_REQUESTS)
            leased = LEASE_REQUESTS
        leased -= 1
        return Response(await app.state.redis.get(key), media_type="application/json")
"""


def _post_product(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/products",
        data=json.dumps({"name": "Widget", "description": "A benchmark widget", "price": "9.99"}).encode(),
        headers={"Content-Type": "application/json", "X-Tenant-ID": TENANT},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        product_id: str = json.load(response)["id"]
        return product_id


def _schema_version(venv: Path) -> str:
    """The service's cache key version (derived from the product's shape)."""
    code = f"from {PACKAGE}.products.cached import SCHEMA_VERSION; print(SCHEMA_VERSION)"
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def _compare(
    service_dir: Path, label: str, database_url: str, *, seconds: int, rounds: int, processes: int
) -> dict[str, float]:
    """Requests per second of the service and of the floor, each over the bare route's."""
    venv = service_dir / ".venv"
    cached = label == "sqlalchemy-cache"
    env = {
        **os.environ,
        "VIRTUAL_ENV": "",
        f"{PREFIX}ENVIRONMENT": "development",
        f"{PREFIX}LOG_LEVEL": "WARNING",
        f"{PREFIX}DATABASE_URL": database_url,
        # The same pooled connections as the bare app's pools (no overflow churn).
        f"{PREFIX}DATABASE_POOL_SIZE": str(POOL_SIZE),
        "BENCH_POOL_SIZE": str(POOL_SIZE),
        f"{PREFIX}DATABASE_MAX_OVERFLOW": "0",
        "BENCH_DSN": database_url.replace("+asyncpg", ""),
        "BENCH_SQLALCHEMY_URL": database_url,
        "BENCH_FLOOR": FLOOR_OF[label],
        # wrk is one client: a limit it can never reach, so the limiter runs but never refuses.
        f"{PREFIX}RATE_LIMIT_REQUESTS": str(10**9),
    }
    if cached:
        env[f"{PREFIX}REDIS_URL"] = REDIS_URL
        env["BENCH_REDIS_URL"] = REDIS_URL
    (service_dir / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    servers = start_servers(
        {
            "service": (uvicorn(venv, f"{PACKAGE}.main:create_app", factory=True), "/health/ready"),
            "bare": (uvicorn(venv, "bare_app:app", factory=False), "/docs"),
        },
        processes,
        service_dir,
        env,
    )
    try:
        product_id = _post_product(servers["service"][0].base)
        service_path = f"/api/v1/products/{product_id}"
        for server in servers["service"]:  # each process's cache holds the product
            urllib.request.urlopen(
                urllib.request.Request(server.base + service_path, headers={"X-Tenant-ID": TENANT})
            )
        if cached:
            key = f"{PACKAGE.replace('_', '-')}:{_schema_version(venv)}:{TENANT}:product:{product_id}"
            bare_path, floor_path = f"/cached/{key}", f"/floor/{key}"
        else:
            bare_path, floor_path = f"/products/{product_id}", f"/floor/{product_id}"
        # name: (the app serving it, its path)
        paths = {
            "bare": ("bare", bare_path),
            "floor": ("bare", floor_path),
            "service": ("service", service_path),
        }
        best: dict[str, Load] = best_of_alternating_rounds(
            {name: [(server, path) for server in servers[app]] for name, (app, path) in paths.items()},
            seconds=seconds,
            rounds=rounds,
            headers={"X-Tenant-ID": TENANT},
        )
    finally:
        stop_servers(servers)
    print_loads(f"{label:16}", best)
    ratios = {
        name: best[name].requests_per_second / best["bare"].requests_per_second
        for name in ("service", "floor")
    }
    cpu_ratio = best["bare"].cpu_us_per_request / best["service"].cpu_us_per_request
    print(
        f"{label:16} ratio          req/s service/bare {ratios['service']:.2f}"
        f"   floor/bare {ratios['floor']:.2f}"
        f"   service/floor {ratios['service'] / ratios['floor']:.2f}"
        f"   bare/service CPU per request {cpu_ratio:.2f}"
    )
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="server processes per app")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("psql") is None:
        print("needs wrk and psql (apt-get install wrk postgresql-client)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="data-bench-"))
    ratios: dict[str, dict[str, float]] = {}
    timing = {"seconds": args.seconds, "rounds": args.rounds, "processes": args.processes}
    try:
        for label, choices in (
            ("sqlalchemy", {"orm": "sqlalchemy"}),
            ("none", {"orm": "none"}),
            ("sqlalchemy-cache", {"orm": "sqlalchemy", "cache": "elasticache-redis"}),
        ):
            service_dir = render_and_install(
                root / label, database="aurora-postgresql", datadog=False, **choices
            )
            with migrated_postgres_database(service_dir) as url:
                ratios[label] = _compare(service_dir, label, url, **timing)
    finally:
        shutil.rmtree(root)
    for label, target_key in (("sqlalchemy", "sqlalchemy"), ("none", "none"), ("sqlalchemy-cache", "cache")):
        target, ratio, floor = TARGETS[target_key], ratios[label]["service"], ratios[label]["floor"]
        verdict = "met" if ratio >= target else "MISSED"
        reach = "" if floor >= target else f" (the floor itself reaches only {floor:.2f})"
        print(f"target {label} req/s ratio >= {target}: {verdict}{reach}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
