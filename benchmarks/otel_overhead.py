"""What OpenTelemetry tracing costs the generated service: /health/live and a product GET
with tracing on (every request sampled, or a tenth as the generated ConfigMap samples; spans
exported to a real OTLP/HTTP receiver), beside a bare FastAPI app and the same service with
tracing off.

Renders the default variant with tracing=opentelemetry, installs it with uv, and serves the
apps from that environment with uvicorn (one worker each, several processes), as
service_overhead does; wrk drives every process over loopback in alternating rounds of the
same run and each app's best round is compared. The receiver runs in this process and only
counts what it is sent. /health/live makes no span (probes are excluded), so there the
difference is what the service adds besides spans (FastAPI's telemetry still sees the probe,
to exclude it); the product GET is traced with its SQL statement.

Usage: uv run python benchmarks/otel_overhead.py [--seconds 5] [--rounds 3] [--processes 2]
    [--connections 32]
Needs: wrk, psql and uv on PATH, and PostgreSQL's server binaries unless BENCH_POSTGRES_URL
is set.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import data_reads
from harness import (
    PACKAGE,
    TENANT,
    App,
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

# The data-path benchmark's bare app, with its GET by raw asyncpg and its floor (the same
# read through SQLAlchemy's ORM, as the service reads), and a bare /health/live.
BARE_APP = (
    data_reads.BARE_APP
    + """

@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
"""
)
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


def run(timing: Timing, postgres: Postgres) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="otel-bench-"))
    try:
        service_dir = root / "service"
        render_and_install(service_dir, tracing="opentelemetry")
        (service_dir / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
        venv = service_dir / ".venv"
        with postgres.migrated_database(service_dir) as database_url, otlp_receiver() as (endpoint, received):
            off_env = shipped_service_env(database_url)
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
            bare_env = {
                **off_env,
                "BENCH_POOL_SIZE": str(data_reads.POOL_SIZE),
                "BENCH_DSN": database_url.replace("+asyncpg", ""),
                "BENCH_SQLALCHEMY_URL": database_url,
                "BENCH_FLOOR": "orm",
            }
            postgres.check_connection_budget(
                {
                    # Three apps of the service: traced, sampled and untraced.
                    "service": 3 * timing.processes * pool_connections(service_pool(service_dir, off_env)),
                    # An asyncpg pool and a SQLAlchemy engine in each process.
                    "bare": timing.processes * 2 * data_reads.POOL_SIZE,
                }
            )
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
                product_id = create_product(servers["untraced"][0].base)
                tenant = {"X-Tenant-ID": TENANT}
                targets = {
                    "live bare": ("bare", Request("/health/live")),
                    "get bare": ("bare", Request(f"/products/{product_id}", headers=tenant)),
                    "get floor": ("bare", Request(f"/floor/{product_id}", headers=tenant)),
                }
                for name in ("traced", "sampled", "untraced"):
                    targets[f"live {name}"] = (name, Request("/health/live"))
                    targets[f"get {name}"] = (name, Request(f"/api/v1/products/{product_id}", headers=tenant))
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
    """Per connection count: the traced service, every request or a tenth sampled, against
    the bare app on /health/live, and on the product GET against its floor (issue 18 settled
    that a service reading through SQLAlchemy is measured against the same read through
    SQLAlchemy, not raw asyncpg) and against the same service untraced, which is what tracing
    alone costs; each by requests per second and by CPU time per request. (what, measured,
    the target, met)"""
    compared = [
        (path, name, baseline)
        for path, baseline in (("live", "bare"), ("get", "floor"), ("get", "untraced"))
        for name in ("traced", "sampled")
    ]
    found = []
    for connections, loads in results["loads"].items():
        for path, name, baseline in compared:
            measured, base = loads[f"{path} {name}"], loads[f"{path} {baseline}"]
            ratio = measured["requests_per_second"] / base["requests_per_second"]
            what = f"-c{connections} {path}"
            least = f">= {LEAST_RATIO}"
            found.append((f"{what} req/s {name}/{baseline}", ratio, least, ratio >= LEAST_RATIO))
            # The same ratio from CPU time per request, which other load on the machine moves
            # far less: a check on the one above when they disagree between runs.
            cpu = base["cpu_us_per_request"] / measured["cpu_us_per_request"]
            found.append((f"{what} CPU per request {baseline}/{name}", cpu, least, cpu >= LEAST_RATIO))
    return found


def main() -> int:
    return benchmark_main(__doc__.splitlines()[0], run, processes=2)


if __name__ == "__main__":
    raise SystemExit(main())
