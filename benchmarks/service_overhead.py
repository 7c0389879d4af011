"""What the generated service's middleware costs: its /health/live against a bare FastAPI app.

Renders the default variant with scaffold, installs it with uv, and serves both apps from
that environment with uvicorn (one worker, uvloop, httptools), each in several processes (one
process can stay slower than another of the same app here). wrk drives every process over
loopback in alternating rounds in the same run, so machine noise hits both apps alike; each
app's best round is compared (for p99, the median round). Runs once with Datadog off and
once with it on (ddtrace loaded, no agent). Also times process start to the first 200 (the
median of each app's processes). The service runs as deployed (its Dockerfile's uvicorn
flags), against a migrated database on the machine's PostgreSQL (BENCH_POSTGRES_URL,
default postgresql://postgres@127.0.0.1:5432/postgres; created and dropped).

Usage: uv run python benchmarks/service_overhead.py [--seconds 5] [--rounds 3] [--processes 3]
Needs: wrk (Debian package `wrk`), psql and uv on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from harness import (
    PACKAGE,
    PREFIX,
    best_of_alternating_rounds,
    migrated_postgres_database,
    print_loads,
    render_and_install,
    start_servers,
    stop_servers,
    uvicorn,
)

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
"""
TARGETS = {"rps_ratio_off": 0.85, "rps_ratio_on": 0.65, "p99_ratio": 1.2, "startup_seconds": 2.0}


def _compare(
    service_dir: Path, database_url: str, *, datadog: bool, seconds: int, rounds: int, processes: int
) -> dict[str, float]:
    # As deployed: a real database whose schema a migration Job created (ENVIRONMENT=local
    # would start the SQLite stand-in and migrate it on every start).
    env = {
        **os.environ,
        "VIRTUAL_ENV": "",
        f"{PREFIX}ENVIRONMENT": "development",
        f"{PREFIX}LOG_LEVEL": "WARNING",
    }
    env[f"{PREFIX}DATABASE_URL"] = database_url
    env[f"{PREFIX}DATADOG_ENABLED"] = "true" if datadog else "false"
    env["DD_TRACE_ENABLED"] = "true" if datadog else "false"
    venv = service_dir / ".venv"
    service_command = uvicorn(venv, f"{PACKAGE}.main:create_app", factory=True)
    bare_command = uvicorn(venv, "bare_app:app", factory=False)
    if datadog:  # load the tracer the way the Dockerfile does, for both apps alike
        service_command = [str(venv / "bin" / "ddtrace-run"), *service_command]
        bare_command = [str(venv / "bin" / "ddtrace-run"), *bare_command]
    probe = "/health/live"
    servers = start_servers(
        {"bare": (bare_command, probe), "service": (service_command, probe)}, processes, service_dir, env
    )
    try:
        best = best_of_alternating_rounds(
            {name: [(server, probe) for server in started] for name, started in servers.items()},
            seconds=seconds,
            rounds=rounds,
        )
    finally:
        stop_servers(servers)
    label = "on " if datadog else "off"
    print_loads(f"datadog {label}", best)
    rps_ratio = best["service"].requests_per_second / best["bare"].requests_per_second
    p99_ratio = best["service"].p99_ms / best["bare"].p99_ms
    cpu_ratio = best["bare"].cpu_us_per_request / best["service"].cpu_us_per_request
    # The median start of each app's processes: a start-up target is about the usual case.
    start, bare_start = (
        statistics.median(server.startup_seconds for server in servers[name]) for name in ("service", "bare")
    )
    print(
        f"datadog {label} ratio    req/s {rps_ratio:.2f}   p99 {p99_ratio:.2f}x"
        f"   bare/service CPU per request {cpu_ratio:.2f}"
    )
    print(f"datadog {label} start    service {start:.2f} s   bare {bare_start:.2f} s (medians)")
    return {"rps": rps_ratio, "p99": p99_ratio, "cpu": cpu_ratio, "startup": start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=3, help="server processes per app")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="service-bench-"))
    try:
        service_dir = render_and_install(root / "service")
        (service_dir / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
        with migrated_postgres_database(service_dir) as database_url:
            timing = {"seconds": args.seconds, "rounds": args.rounds, "processes": args.processes}
            off = _compare(service_dir, database_url, datadog=False, **timing)
            on = _compare(service_dir, database_url, datadog=True, **timing)
    finally:
        shutil.rmtree(root)
    verdicts = {
        f"req/s ratio, Datadog off >= {TARGETS['rps_ratio_off']}": off["rps"] >= TARGETS["rps_ratio_off"],
        f"req/s ratio, Datadog on >= {TARGETS['rps_ratio_on']}": on["rps"] >= TARGETS["rps_ratio_on"],
        # The same ratios from CPU time per request, which other load on the machine moves
        # far less: a check on the two above when they disagree between runs.
        f"CPU-per-request ratio, Datadog off >= {TARGETS['rps_ratio_off']}": off["cpu"]
        >= TARGETS["rps_ratio_off"],
        f"CPU-per-request ratio, Datadog on >= {TARGETS['rps_ratio_on']}": on["cpu"]
        >= TARGETS["rps_ratio_on"],
    }
    for label, ratios in (("off", off), ("on", on)):
        verdicts[f"p99 within {TARGETS['p99_ratio']}x of bare, Datadog {label}"] = (
            ratios["p99"] <= TARGETS["p99_ratio"]
        )
        verdicts[f"start to first 200 < {TARGETS['startup_seconds']} s, Datadog {label}"] = (
            ratios["startup"] < TARGETS["startup_seconds"]
        )
    for description, met in verdicts.items():
        print(f"target {description}: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
