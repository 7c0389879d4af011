"""What OpenTelemetry tracing costs the generated service: /health/live and a product GET
with tracing on (every request sampled, or a tenth as the generated ConfigMap samples; spans
exported to a real OTLP/HTTP receiver), beside a bare FastAPI app and the same service with
tracing off.

Renders the default variant with tracing=opentelemetry, installs it with uv, and serves the
apps from that environment with uvicorn (one worker each, several processes), as
service_overhead does; wrk drives every process over loopback in alternating rounds of the
same run and each app's best round is compared. The receiver runs in this process and only
counts what it is sent. /health/live is not traced (probes are excluded), so there the
difference is what the service adds besides tracing; the product GET is traced with its SQL
statement.

Usage: uv run python benchmarks/otel_overhead.py [--seconds 5] [--rounds 3] [--processes 2]
    [--connections 32]
Needs: wrk, psql and uv on PATH, and PostgreSQL's server binaries unless BENCH_POSTGRES_URL
is set.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import (
    PACKAGE,
    PREFIX,
    App,
    Postgres,
    Request,
    Timing,
    benchmark_main,
    render_and_install,
    shipped_service_env,
    start_servers,
    stop_servers,
    sweep,
    uvicorn,
)

TENANT = "bench"
BARE_APP = """
import os
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
from fastapi import FastAPI, Header, HTTPException


@asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=2, max_size=10)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/products/{product_id}")
async def get_product(product_id: UUID, x_tenant_id: str = Header()):
    row = await app.state.pool.fetchrow(
        "SELECT * FROM products WHERE tenant_id = $1 AND id = $2", x_tenant_id, product_id
    )
    if row is None:
        raise HTTPException(404)
    return dict(row)
"""
# The least ratio of requests per second, traced service / bare app (issue 20's goal).
LEAST_RATIO = 0.65


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[int]]]:
    """An OTLP/HTTP endpoint that answers every export with 200 and counts its bytes."""
    received = [0]

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received[0] += len(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def _post_product(base: str) -> str:
    request = urllib.request.Request(
        base + "/api/v1/products",
        data=json.dumps({"name": "Widget", "price": "9.99"}).encode(),
        headers={"Content-Type": "application/json", "X-Tenant-ID": TENANT},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        product_id: str = json.load(response)["id"]
        return product_id


def run(timing: Timing, postgres: Postgres) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="otel-bench-"))
    try:
        service_dir = root / "service"
        render_and_install(service_dir, tracing="opentelemetry")
        (service_dir / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
        venv = service_dir / ".venv"
        with postgres.migrated_database(service_dir) as database_url, otlp_receiver() as (endpoint, received):
            # Pools as large as the bare app's: four apps share one PostgreSQL server.
            off_env = {**shipped_service_env(database_url), f"{PREFIX}DATABASE_POOL_SIZE": "10"}
            on_env = {
                **off_env,
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "always_on",
            }
            # As the generated ConfigMap samples: a tenth of the traces that start here.
            sampled_env = {
                **on_env,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1",
            }
            bare_env = {**off_env, "BENCH_DSN": database_url.replace("+asyncpg", "")}
            service = uvicorn(venv, f"{PACKAGE}.main:create_app", factory=True)
            servers = start_servers(
                {
                    "bare": (
                        App(uvicorn(venv, "bare_app:app", factory=False), "/health/live"),
                        service_dir,
                        bare_env,
                    ),
                    "traced": (App(service, "/health/live"), service_dir, on_env),
                    "sampled": (App(service, "/health/live"), service_dir, sampled_env),
                    "untraced": (App(service, "/health/live"), service_dir, off_env),
                },
                timing.processes,
            )
            try:
                product = f"/api/v1/products/{_post_product(servers['untraced'][0].base)}"
                tenant = {"X-Tenant-ID": TENANT}
                targets = {
                    f"{path} {name}": (name, Request(route, headers=tenant))
                    for path, route in (("live", "/health/live"), ("get", product))
                    for name in ("bare", "traced", "sampled", "untraced")
                }
                results = sweep(servers, targets, timing, "otel ")
            finally:
                stop_servers(servers)
            print(f"the receiver got {received[0]} bytes of spans")
    finally:
        shutil.rmtree(root)
    return {
        "loads": {
            connections: {name: dataclasses.asdict(load) for name, load in loads.items()}
            for connections, loads in results.items()
        },
        "spans_bytes": received[0],
    }


def verdicts(results: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """Per connection count and path: the traced service, every request or a tenth sampled,
    against the bare app; for the product GET also against the same service untraced, which
    is what tracing alone costs. (what, measured, the target, met)"""
    compared = [(path, name, "bare") for path in ("live", "get") for name in ("traced", "sampled")]
    compared += [("get", name, "untraced") for name in ("traced", "sampled")]
    found = []
    for connections, loads in results["loads"].items():
        for path, name, baseline in compared:
            ratio = (
                loads[f"{path} {name}"]["requests_per_second"]
                / loads[f"{path} {baseline}"]["requests_per_second"]
            )
            what = f"-c{connections} {path} req/s {name}/{baseline}"
            found.append((what, ratio, f">= {LEAST_RATIO}", ratio >= LEAST_RATIO))
    return found


def main() -> int:
    return benchmark_main(__doc__.splitlines()[0], run, processes=2)


if __name__ == "__main__":
    raise SystemExit(main())
