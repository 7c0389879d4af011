"""What the generated service's data path costs: product GET by id and create against bare
FastAPI routes doing the same work by hand, in the same run, under the same load.

- PostgreSQL, orm sqlalchemy and orm none: the service's `GET /api/v1/products/{id}` (every
  middleware, access log, rate limiter, tenant scope, session per request, repository,
  response model) against a bare route running the same SELECT with a raw asyncpg pool;
  and its `POST /api/v1/products` (the same, plus body validation and a transaction).
- Redis cache: the cached GET of the same product against a bare route doing one raw Redis
  GET of the same key.

Each comparison also serves a floor: a bare route doing only what the service's requirements
make every such request do. For the ORM and Core it reads the same product, or inserts a new
one in a transaction, through SQLAlchemy (the service's own mapped class or table, an
AsyncSession or a pooled connection), answering with the service's response model, with
nothing else; for the cache it sends the GET, and once per 50 requests the rate limit's
lease of the client's budget (one Redis command). No service built on those parts can beat
its floor, so "floor/bare" is the best ratio reachable, and "service/floor" what the
service's own layers cost on top. Targets: service/floor at least 0.9 for the ORM and Core
GET and 0.85 for create; service/bare at least 0.85 for the cached GET.

The service runs with its shipped defaults (see harness.shipped_service_env: only the
connection URLs, ENVIRONMENT and a rate limit out of wrk's reach are set), so its pool has
the size it derives from its connection budget (harness.service_pool), never more, and it
writes an access-log line per request. The bare app keeps POOL_SIZE connections per pool;
together they must fit PostgreSQL's connections (checked before the servers start).

Each set is served from one rendered variant's environment with uvicorn (one worker,
uvloop, httptools), each app in several processes, and driven by wrk over loopback in
alternating rounds at each number of connections per process; the best round of each counts.
Uses a private PostgreSQL server started for the run (harness.private_postgres), or the one
at BENCH_POSTGRES_URL when it is set (a fresh database is created and dropped on it), and
Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/14).

Usage: uv run python benchmarks/data_reads.py [--seconds 5] [--rounds 3] [--processes 2]
    [--connections 5,32,128]
Needs: wrk (Debian package `wrk`), psql and uv on PATH, and PostgreSQL's server binaries
(Debian package `postgresql`) unless BENCH_POSTGRES_URL is set.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from harness import (
    NEW_PRODUCT,
    PACKAGE,
    REDIS_URL,
    TENANT,
    App,
    Load,
    Postgres,
    Request,
    Timing,
    benchmark_main,
    create_product,
    pool_connections,
    render_and_install,
    service_pool,
    shipped_service_env,
    start_servers,
    stop_servers,
    sweep,
    uvicorn,
)

# Connections per pool of the bare app (SQLAlchemy's pool spends noticeably more CPU when
# requests queue for it). Each of its processes holds an asyncpg pool and, beside the cache's,
# a SQLAlchemy engine.
POOL_SIZE = 15
# label: the choices rendered, and the floor the bare app serves (see BARE_APP).
VARIANTS = {
    "orm": ({"orm": "sqlalchemy"}, "orm"),
    "core": ({"orm": "none"}, "core"),
    "cache": ({"orm": "sqlalchemy", "cache": "elasticache-redis"}, "cache"),
}
# (variant, measured, baseline, the least ratio of their requests per second)
TARGETS = (
    ("orm", "get service", "get floor", 0.9),
    ("core", "get service", "get floor", 0.9),
    ("orm", "create service", "create floor", 0.85),
    ("core", "create service", "create floor", 0.85),
    ("cache", "get service", "get bare", 0.85),
)
BARE_APP = """
import os
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import asyncpg
from fastapi import FastAPI, Header, HTTPException, Response
from pydantic import BaseModel

FLOOR = os.environ["BENCH_FLOOR"]  # which work the floor routes do: orm, core or cache
POOL_SIZE = int(os.environ["BENCH_POOL_SIZE"])


@asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=5, max_size=POOL_SIZE)
    app.state.redis = app.state.engine = None
    if FLOOR == "cache":  # only the cached variant has redis installed
        from redis.asyncio import BlockingConnectionPool, Redis

        # As many connections as the service's pool (REDIS_MAX_CONNECTIONS); requests
        # beyond wait for one.
        pool = BlockingConnectionPool.from_url(os.environ["BENCH_REDIS_URL"], max_connections=50)
        app.state.redis = Redis(connection_pool=pool)
    else:
        from sqlalchemy.ext.asyncio import create_async_engine

        app.state.write_engine = create_async_engine(
            os.environ["BENCH_SQLALCHEMY_URL"], pool_size=POOL_SIZE, max_overflow=0
        )
        # Reads in autocommit, as the service makes them on PostgreSQL (the same pool).
        app.state.engine = app.state.write_engine.execution_options(isolation_level="AUTOCOMMIT")
    yield
    await app.state.pool.close()
    if app.state.redis is not None:
        await app.state.redis.aclose()
    if app.state.engine is not None:
        await app.state.write_engine.dispose()


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


class NewProduct(BaseModel):
    name: str
    description: str | None = None
    price: Decimal


def new_product(tenant_id: str, body: NewProduct):
    from orders_api.products.models import Product, ProductStatus

    now = datetime.now(UTC)
    return Product(
        tenant_id=tenant_id,
        id=uuid4(),
        status=ProductStatus.DRAFT,
        created_at=now,
        updated_at=now,
        **body.model_dump(),
    )


# The floors read the way the service does (and the cheapest way SQLAlchemy offers): one
# statement built once, executed with the key's values. They insert in a transaction. They
# answer with the service's response model, as it does (FastAPI would otherwise encode the
# returned object with jsonable_encoder, several times the cost).
if FLOOR in ("orm", "core"):
    from orders_api.products.schemas import ProductRead

if FLOOR == "orm":
    from sqlalchemy import bindparam, select
    from sqlalchemy.ext.asyncio import AsyncSession

    from orders_api.products.orm import ProductRecord

    BY_KEY = select(ProductRecord).where(
        ProductRecord.tenant_id == bindparam("tenant_id"), ProductRecord.id == bindparam("product_id")
    )

    @app.get("/floor/{product_id}")
    async def floor(product_id: UUID, x_tenant_id: str = Header()) -> ProductRead:
        async with AsyncSession(app.state.engine) as session:
            record = await session.scalar(BY_KEY, {"tenant_id": x_tenant_id, "product_id": product_id})
        if record is None:
            raise HTTPException(404)
        return ProductRead.from_domain(record.to_domain())

    @app.post("/floor", status_code=201)
    async def floor_create(body: NewProduct, x_tenant_id: str = Header()) -> ProductRead:
        product = new_product(x_tenant_id, body)
        async with AsyncSession(app.state.write_engine) as session, session.begin():
            session.add(ProductRecord.from_domain(product))
        return ProductRead.from_domain(product)

elif FLOOR == "core":
    from sqlalchemy import bindparam, select

    from orders_api.products.table import from_row, products, to_row

    BY_KEY = select(products).where(
        products.c.tenant_id == bindparam("tenant_id"), products.c.id == bindparam("product_id")
    )
    INSERT = products.insert()

    @app.get("/floor/{product_id}")
    async def floor(product_id: UUID, x_tenant_id: str = Header()) -> ProductRead:
        async with app.state.engine.connect() as connection:
            result = await connection.execute(BY_KEY, {"tenant_id": x_tenant_id, "product_id": product_id})
            row = result.first()
        if row is None:
            raise HTTPException(404)
        return ProductRead.from_domain(from_row(row))

    @app.post("/floor", status_code=201)
    async def floor_create(body: NewProduct, x_tenant_id: str = Header()) -> ProductRead:
        product = new_product(x_tenant_id, body)
        async with app.state.write_engine.begin() as connection:
            await connection.execute(INSERT, to_row(product))
        return ProductRead.from_domain(product)

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


def _schema_version(venv: Path) -> str:
    """The service's cache key version (derived from the product's shape)."""
    code = f"from {PACKAGE}.products.cached import SCHEMA_VERSION; print(SCHEMA_VERSION)"
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def _compare(
    service_dir: Path, label: str, postgres: Postgres, database_url: str, timing: Timing
) -> dict[str, dict[str, Load]]:
    """Each target's load at each number of connections (its key, as text for JSON)."""
    venv = service_dir / ".venv"
    floor = VARIANTS[label][1]
    cached = floor == "cache"
    redis_url = REDIS_URL if cached else None
    service_env = shipped_service_env(database_url, redis_url)
    bare_env = {
        **service_env,
        "BENCH_POOL_SIZE": str(POOL_SIZE),
        "BENCH_DSN": database_url.replace("+asyncpg", ""),
        "BENCH_SQLALCHEMY_URL": database_url,
        "BENCH_FLOOR": floor,
        "BENCH_REDIS_URL": REDIS_URL,
    }
    bare_pools = 1 if cached else 2
    postgres.check_connection_budget(
        {
            "service": timing.processes * pool_connections(service_pool(service_dir, service_env)),
            "bare": timing.processes * bare_pools * POOL_SIZE,
        }
    )
    (service_dir / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
    servers = start_servers(
        {
            "service": (
                App(uvicorn(venv, f"{PACKAGE}.main:create_app", factory=True), "/health/ready"),
                service_dir,
                service_env,
            ),
            "bare": (App(uvicorn(venv, "bare_app:app", factory=False), "/docs"), service_dir, bare_env),
        },
        timing.processes,
    )
    tenant = {"X-Tenant-ID": TENANT}
    try:
        product_id = create_product(servers["service"][0].base)
        service_path = f"/api/v1/products/{product_id}"
        for server in servers["service"]:  # each process's cache holds the product
            urllib.request.urlopen(urllib.request.Request(server.base + service_path, headers=tenant))
        if cached:
            key = f"{PACKAGE.replace('_', '-')}:{_schema_version(venv)}:{TENANT}:product:{product_id}"
            bare_path, floor_path = f"/cached/{key}", f"/floor/{key}"
        else:
            bare_path, floor_path = f"/products/{product_id}", f"/floor/{product_id}"
        # name: (the app serving it, what wrk sends)
        targets = {
            "get bare": ("bare", Request(bare_path, headers=tenant)),
            "get floor": ("bare", Request(floor_path, headers=tenant)),
            "get service": ("service", Request(service_path, headers=tenant)),
        }
        if not cached:
            targets["create floor"] = ("bare", Request("/floor", "POST", NEW_PRODUCT, tenant))
            targets["create service"] = ("service", Request("/api/v1/products", "POST", NEW_PRODUCT, tenant))
        results = sweep(servers, targets, timing, f"{label:5}")
    finally:
        stop_servers(servers)
    return results


def verdicts(results: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """Each target at each connection count: (what, measured, the target, met)."""
    found = []
    for variant, measured, baseline, least in TARGETS:
        for connections, loads in results[variant].items():
            value = loads[measured]["requests_per_second"] / loads[baseline]["requests_per_second"]
            what = f"{variant} -c{connections} req/s {measured}/{baseline}"
            found.append((what, value, f">= {least}", value >= least))
    return found


def run(timing: Timing, postgres: Postgres) -> dict[str, Any]:
    """Every variant's loads, as JSON data: variant, connections, target, Load fields."""
    root = Path(tempfile.mkdtemp(prefix="data-bench-"))
    results: dict[str, dict[str, dict[str, Load]]] = {}
    try:
        for label, (choices, _) in VARIANTS.items():
            service_dir = render_and_install(
                root / label, database="aurora-postgresql", tracing="none", **choices
            )
            with postgres.migrated_database(service_dir) as url:
                results[label] = _compare(service_dir, label, postgres, url, timing)
    finally:
        shutil.rmtree(root)
    data = {
        variant: {
            connections: {name: dataclasses.asdict(load) for name, load in loads.items()}
            for connections, loads in by_connections.items()
        }
        for variant, by_connections in results.items()
    }
    for what, value, target, met in verdicts(data):
        print(f"target {what} {value:.2f} {target}: {'met' if met else 'MISSED'}")
    return data


def main() -> int:
    return benchmark_main(__doc__.splitlines()[0], run, processes=2)


if __name__ == "__main__":
    raise SystemExit(main())
