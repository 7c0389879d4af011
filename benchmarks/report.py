"""Every service benchmark in one run, and the performance report made from it.

Runs service_overhead (the middleware against a bare app, Datadog off and on, start-up),
data_reads (GET by id and create against bare routes and floors, at every number of
connections per process), peers (GET by id and create against the s3rius
FastAPI-template, at every number of connections), events_publish (create with events on
against off, and commit to stream), events_consume (the event consumer against a bare
read-and-ack loop) and otel_overhead (the service with OpenTelemetry tracing against a bare
app), then writes:

- benchmarks/results/latest.json: the machine (CPU model, cores, kernel), the date, the git
  commit, the timing and every figure;
- docs/images/performance.png: requests per second and p99 against connections per process
  for the service, its floor and the peer;
- docs/performance.md: the template's TechDocs page, generated from the JSON alone (render_page)
  and printed as well, so a test can check that the page holds exactly the measured numbers.

``--quick`` is a smoke run of about three minutes (one-second loads, one round, one process
per app, 5 and 32 connections): its figures show that everything runs, not how fast; the
page says so.
``--page-only`` rewrites the page and plot from the committed JSON.
``--only NAME`` (repeatable) measures only the benchmarks named and keeps the others' figures
from the committed JSON; each benchmark's figures carry the date and commit they were measured
at, and the page gives them where they differ from the run's.

All three use one PostgreSQL server: a private one started for the run
(harness.private_postgres), or the one at BENCH_POSTGRES_URL when it is set.

Usage: uv run python benchmarks/report.py [--quick] [--page-only] [--only NAME]...
    [--connections 5,32,128]
Needs: wrk, psql and uv on PATH, PostgreSQL's server binaries (unless BENCH_POSTGRES_URL is
set), Redis (BENCH_REDIS_URL) and PyPI (peers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import data_reads
import events_consume
import events_publish
import otel_overhead
import peers
import service_overhead
from harness import (
    CONNECTIONS,
    PACKAGE,
    ROOT,
    Postgres,
    Timing,
    connections_argument,
    postgres_server,
)
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
PAGE = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "images" / "performance.png"
# About 19 minutes on a two-core machine, 5 of them the events benchmarks; the overhead
# benchmark (no database in its path) at 32 connections only.
FULL = Timing(seconds=3, rounds=2, processes=2, connections=CONNECTIONS)
# About 3 minutes, most of it rendering and installing five services and the peer.
QUICK = Timing(seconds=1, rounds=1, processes=1, connections=(5, 32))
OVERHEAD_CONNECTIONS = (32,)
# Events per round of events_consume: fewer in a quick run.
CONSUME_EVENTS = {False: events_consume.EVENTS, True: 1000}
BENCHMARKS = ("service_overhead", "data_reads", "peers", "events_publish", "events_consume", "otel_overhead")


def _machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()}


def _commit() -> str:
    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip()

    commit = git("rev-parse", "HEAD")
    return (
        f"{commit} (with uncommitted changes)"
        if git("status", "--porcelain", "--untracked-files=no")
        else commit
    )


def _postgres(postgres: Postgres) -> dict[str, Any]:
    return {
        "private": "BENCH_POSTGRES_URL" not in os.environ,
        "version": postgres.value("SHOW server_version"),
        "max_connections": int(postgres.value("SHOW max_connections")),
    }


def _run_benchmark(name: str, timing: Timing, postgres: Postgres, *, quick: bool) -> dict[str, Any]:
    if name == "service_overhead":
        overhead = Timing(timing.seconds, timing.rounds, timing.processes, OVERHEAD_CONNECTIONS)
        return service_overhead.run(overhead, postgres)
    if name == "data_reads":
        return data_reads.run(timing, postgres)
    if name == "peers":
        return peers.run(timing, postgres)
    if name == "events_publish":
        return events_publish.run(timing, postgres)
    if name == "otel_overhead":
        return otel_overhead.run(
            Timing(timing.seconds, timing.rounds, timing.processes, OVERHEAD_CONNECTIONS), postgres
        )
    return events_consume.run(CONSUME_EVENTS[quick], timing.rounds)


def measure(
    timing: Timing, postgres: Postgres, *, quick: bool, only: list[str], kept: dict[str, Any]
) -> dict[str, Any]:
    """Every benchmark's figures, or with ``only`` those benchmarks' and the rest of ``kept``
    (the committed results)."""
    started = datetime.now(UTC)
    if only:
        results = dict(kept)
    else:
        results = {
            "quick": quick,
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _commit(),
            "machine": _machine(),
            "timing": asdict(timing),
            "overhead_connections": list(OVERHEAD_CONNECTIONS),
            "postgres": _postgres(postgres),
            "peer": {"package": "fastapi_template", "version": peers.PEER_VERSION},
        }
    for name in only or BENCHMARKS:
        benchmark_started = datetime.now(UTC)
        results[name] = _run_benchmark(name, timing, postgres, quick=quick)
        results.setdefault("measured", {})[name] = {
            "date": benchmark_started.strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _commit(),
            "quick": quick,
            "timing": asdict(timing),
            "minutes": round((datetime.now(UTC) - benchmark_started).total_seconds() / 60, 1),
        }
    if not only:
        results["minutes"] = round((datetime.now(UTC) - started).total_seconds() / 60, 1)
    return results


def all_verdicts(results: dict[str, Any]) -> list[tuple[str, str, float, str, bool]]:
    """(benchmark, what, measured, target, met) of every target."""
    return [
        (name, *verdict)
        for name, module in (
            ("peers", peers),
            ("data_reads", data_reads),
            ("service_overhead", service_overhead),
            ("events_publish", events_publish),
            ("events_consume", events_consume),
            ("otel_overhead", otel_overhead),
        )
        for verdict in module.verdicts(results[name])
    ]


def _loads_table(rows: list[tuple[str, str, dict[str, float]]]) -> list[str]:
    lines = [
        "| Target | Connections per process | req/s | p99 (ms) | CPU per request (µs) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, connections, load in rows:
        lines.append(
            f"| {name} | {connections} | {load['requests_per_second']:.0f} | {load['p99_ms']:.1f} "
            f"| {load['cpu_us_per_request']:.0f} |"
        )
    return lines


def targets_table(results: dict[str, Any]) -> list[str]:
    lines = ["| Benchmark | Measured | Value | Target | Result |", "| --- | --- | --- | --- | --- |"]
    for benchmark, what, value, target, met in all_verdicts(results):
        lines.append(f"| {benchmark} | {what} | {value:.3f} | {target} | {'met' if met else '**missed**'} |")
    return lines


def render_page(results: dict[str, Any]) -> str:
    """The performance page, from the results alone."""
    machine, timing, postgres = results["machine"], results["timing"], results["postgres"]
    defaults, pool = results["peers"]["service_defaults"], results["peers"]["service_pool"]
    if postgres["private"]:
        server = (
            f"{postgres['version']}, a server of the run alone on loopback, every setting at "
            f"initdb's defaults but max_connections ({postgres['max_connections']}, enough for "
            "every pool of the run)"
        )
    else:
        server = (
            f"{postgres['version']}, the server at `BENCH_POSTGRES_URL` "
            f"(max_connections {postgres['max_connections']})"
        )
    connections = ", ".join(str(count) for count in timing["connections"])
    lines = ["# Performance", ""]
    if results["quick"]:
        lines += [
            "!!! warning",
            "    These figures come from a quick smoke run (`--quick`, timing below) on a shared",
            "    machine. They show that every benchmark runs, not how fast the service is; a",
            "    full run replaces them.",
            "",
        ]
    lines += [
        "What a service generated with the default choices costs, measured side by side with",
        "bare FastAPI routes doing the same work, with the floor any service on the same stack",
        "reaches, and with a peer template. Generated by `benchmarks/report.py` from",
        "`benchmarks/results/latest.json`; regenerate both (about 19 minutes):",
        "",
        "```sh",
        "uv run python benchmarks/report.py",
        "```",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}",
        f"- Date: {results['date']}, commit `{results['commit']}`, {results['minutes']} minutes",
        f"- Each target: {timing['rounds']} alternating round(s) of {timing['seconds']} s on each of "
        f"{timing['processes']} uvicorn process(es) (one worker, uvloop, httptools), wrk over "
        f"loopback with {connections} connections per process; the best round's requests per "
        "second and the median round's p99 count.",
        f"- PostgreSQL: {server}; the service, the bare apps and the peer all use it.",
        "",
        "The service runs with its shipped defaults: only what a deployment must set is set",
        "(the database URL, the Redis URL where it has a cache, and an ENVIRONMENT other than",
        f"`local`). So each process has {pool['pools']} pool(s) of {pool['size']} connections, the "
        "size the service derives with `DATABASE_POOL_SIZE` unset: its budget",
        f"(`DATABASE_MAX_CONNECTIONS`, {defaults['database_max_connections']}) shared by "
        f"{pool['workers']} worker process(es) x {pool['pools']} pool(s), at most "
        f"{pool['derived_size_limit']}. A pool never",
        "opens more (no overflow; the peer benchmark checks the connections the service holds",
        "after its loads). It logs at its default level",
        f"({defaults['log_level']}), which writes an access-log line per request (probes aside). One setting",
        f"differs: the rate limit ({defaults['rate_limit_requests']} requests per client and "
        f"{defaults['rate_limit_window_seconds']} s) is",
        "raised out of reach, because wrk is one client many times faster than that; the",
        "limiter still counts every request.",
        "",
        "![Requests per second and p99 latency against connections per process: the service,"
        " its floor and the peer](images/performance.png)",
        "",
        "The plot shows the service twice: measured beside the peer, and in the data-path run",
        "beside its floor (the ORM variant). Compare each line with the one from its own run;",
        "between runs, the machine's other load differs.",
        "",
        "## Targets",
        "",
        *targets_table(results),
        "",
        f"## Against the peer: {results['peer']['package']} {results['peer']['version']}",
        "",
        "The [s3rius FastAPI-template](https://pypi.org/project/fastapi-template/) rendered at run",
        "time with PostgreSQL, SQLAlchemy, a REST API, migrations and its dummy model, installed",
        "from PyPI and run as its Dockerfile runs it; the service is the template's default",
        "(Aurora PostgreSQL, SQLAlchemy ORM) with Datadog off. What the two do differs:",
        "",
        *[f"- {note}" for note in peers.FAIRNESS],
        "",
        *_loads_table(
            [
                (name, count, load)
                for count, loads in results["peers"]["loads"].items()
                for name, load in loads.items()
            ]
        ),
        "",
        "## Data path: service, floor and bare routes",
        "",
        *_measured_apart(results, "data_reads", loads=True),
        "Each variant's GET by id (and create) against a bare FastAPI route doing the same work",
        "by hand (raw asyncpg, or one Redis GET), and a floor: a bare route doing only what the",
        "service's requirements make every such request do, through the same parts (the same",
        "read or insert through SQLAlchemy's ORM or Core, answered with the service's response",
        "model; for the cache, the GET in Redis and, once per 50 requests, a rate-limit lease).",
        "`orm` is the default variant, `core` SQLAlchemy Core, `cache` the ORM with the Redis cache.",
        "",
        *_loads_table(
            [
                (f"{variant} {name}", count, load)
                for variant, by_count in results["data_reads"].items()
                for count, loads in by_count.items()
                for name, load in loads.items()
            ]
        ),
        "",
        "## Middleware: service against a bare app",
        "",
        "`/health/live` of the default service (every middleware) against a bare FastAPI app",
        "without an access log, Datadog off and on (`ddtrace-run`, no agent). A probe writes no",
        'access line by default; "service logged" is the same service with `LOG_PROBES=true`,',
        "so that each request writes one: the difference of the two services' CPU per request",
        "is what one access line costs.",
        "Start-up is process start to the first 200 (the median of the processes).",
        "",
        *_loads_table(
            [
                (f"Datadog {mode} {name}", count, load)
                for mode in ("off", "on")
                for count, loads in results["service_overhead"][mode]["loads"].items()
                for name, load in loads.items()
            ]
        ),
        "",
        "| Datadog | Service start-up (s) | Bare app start-up (s) |",
        "| --- | --- | --- |",
        *[
            f"| {mode} | {results['service_overhead'][mode]['startup_seconds']['service']:.2f} "
            f"| {results['service_overhead'][mode]['startup_seconds']['bare']:.2f} |"
            for mode in ("off", "on")
        ],
        "",
        *_events_section(results),
        *_otel_section(results),
    ]
    return "\n".join(lines)


def _measured_apart(results: dict[str, Any], name: str, *, loads: bool) -> list[str]:
    """A line saying when the benchmark was measured, if not in the run the page describes
    (with ``loads``, the timing of its wrk loads too)."""
    measured = results.get("measured", {}).get(name)
    if measured is None or (measured["date"], measured["commit"]) == (results["date"], results["commit"]):
        return []
    quick = ", a quick smoke run" if measured["quick"] else ""
    line = (
        f"Measured apart from the run above{quick}: {measured['date']}, commit "
        f"`{measured['commit']}`, {measured['minutes']} minutes"
    )
    if loads:
        timing = measured["timing"]
        connections = ", ".join(str(count) for count in timing["connections"])
        line += (
            f"; {timing['rounds']} round(s) of {timing['seconds']} s on {timing['processes']} "
            f"process(es), {connections} connections per process"
        )
    return [f"{line}.", ""]


def _events_section(results: dict[str, Any]) -> list[str]:
    publish, consume = results["events_publish"], results["events_consume"]
    latency = publish["commit_to_stream"]
    return [
        "## Events: publishing and consuming",
        "",
        *_measured_apart(results, "events_publish", loads=True),
        "Product create of the PostgreSQL ORM service with events on (the event's outbox row",
        "written in the request's transaction, the relay moving it to a Redis stream on its own",
        "connection) against the same service with events off, in alternating rounds.",
        "",
        *_loads_table(
            [(name, count, load) for count, loads in publish["loads"].items() for name, load in loads.items()]
        ),
        "",
        "Commit to stream: each entry's ID (the Redis server's clock at the append) less the",
        "commit time of its product's transaction (PostgreSQL's `pg_xact_commit_timestamp`),",
        "over every event of the loads above and over requests sent one at a time.",
        "",
        "| Requests | Events | p50 (ms) | p99 (ms) | max (ms) |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| {label} | {figures['events']} | {figures['p50_ms']:.1f} | {figures['p99_ms']:.1f} "
            f"| {figures['max_ms']:.1f} |"
            for label, figures in latency.items()
        ],
        "",
        *_measured_apart(results, "events_consume", loads=False),
        f"The event consumer (`python -m {PACKAGE}.events consume`: decoding and upcasting",
        "through the registry, the example projection's Lua script, the acknowledgement)",
        "against a bare consumer-group loop on the same Redis that only reads and acknowledges:",
        f"{consume['events']} events per round, {consume['rounds']} alternating round(s), the most",
        "events per second and the least CPU per event of each.",
        "",
        "| Process | Events per second | CPU per event (µs) |",
        "| --- | --- | --- |",
        *[
            f"| {name} | {rate['events_per_second']:.0f} | {rate['cpu_us_per_event']:.0f} |"
            for name, rate in consume["best"].items()
        ],
        "",
    ]


def _otel_section(results: dict[str, Any]) -> list[str]:
    otel = results["otel_overhead"]
    return [
        "## OpenTelemetry: the traced service against a bare app",
        "",
        *_measured_apart(results, "otel_overhead", loads=False),
        "The default service rendered with `tracing: opentelemetry`, spans exported over",
        "OTLP/HTTP to a receiver in the benchmark's process: every request sampled (traced), a",
        "tenth as the generated ConfigMap samples (sampled), and tracing off (untraced), each with",
        "the service's shipped defaults, against a bare FastAPI app. `/health/live` is not traced",
        "(probes are excluded); the product GET is, with a span for its SQL statement. The bare",
        "app reads the product by raw asyncpg (get bare) and, as its floor, through SQLAlchemy's",
        "ORM as the service does (get floor, the data-path floor): the traced GET is judged",
        "against the floor, since a service reading through SQLAlchemy cannot reach raw asyncpg",
        "(issue 18).",
        "",
        *_loads_table(
            [(name, count, load) for count, loads in otel["loads"].items() for name, load in loads.items()]
        ),
        "",
    ]


def plot(results: dict[str, Any], path: Path) -> None:
    """Requests per second and p99 against connections per process: GET and create, for the
    service and the peer (one run) and the floor (the data-path run, with its own service)."""
    figure = Figure(figsize=(11, 8))
    axes = figure.subplots(2, 2, sharex=True)
    series = (
        ("service (peer run)", results["peers"]["loads"], "service", "tab:blue", "-"),
        ("peer", results["peers"]["loads"], "peer", "tab:red", "-"),
        ("service (floor run)", results["data_reads"]["orm"], "service", "tab:blue", "--"),
        ("floor", results["data_reads"]["orm"], "floor", "tab:green", "--"),
    )
    for row, route in enumerate(("get", "create")):
        for column, (field, label) in enumerate((("requests_per_second", "req/s"), ("p99_ms", "p99 (ms)"))):
            ax = axes[row][column]
            for name, by_count, target, colour, style in series:
                counts = sorted(by_count, key=int)
                ax.plot(
                    [int(count) for count in counts],
                    [by_count[count][f"{route} {target}"][field] for count in counts],
                    marker="o",
                    color=colour,
                    linestyle=style,
                    label=name,
                )
            ax.set_xscale("log")
            ax.set_xticks([int(count) for count in results["timing"]["connections"]])
            ax.get_xaxis().set_major_formatter(ScalarFormatter())
            ax.set_title(f"{'GET by id' if route == 'get' else 'create'}: {label}")
            if field == "p99_ms":  # from milliseconds to seconds as connections grow
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            if row == 1:
                ax.set_xlabel("connections per process")
    axes[0][0].legend()
    quick = " (quick smoke run)" if results["quick"] else ""
    figure.suptitle(f"Default service, floor and peer{quick}: {results['date']}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80, metadata={"Software": None})


def write_outputs(results: dict[str, Any]) -> None:
    page = render_page(results)
    PAGE.write_text(page, encoding="utf-8")
    plot(results, PLOT)
    print("\n".join(targets_table(results)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--page-only", action="store_true", help="the page and plot from the committed JSON")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        default=[],
        help="measure only this benchmark (repeatable); the others' figures stay as committed",
    )
    parser.add_argument(
        "--connections",
        type=connections_argument,
        help=f"connections per process to sweep (default {','.join(map(str, CONNECTIONS))})",
    )
    args = parser.parse_args()
    if args.page_only:
        write_outputs(json.loads(RESULTS.read_text(encoding="utf-8")))
        return 0
    if shutil.which("wrk") is None or shutil.which("psql") is None:
        print("needs wrk and psql (apt-get install wrk postgresql-client)", file=sys.stderr)
        return 2
    kept = json.loads(RESULTS.read_text(encoding="utf-8")) if args.only else {}
    timing = QUICK if args.quick else FULL
    if args.connections:
        timing = replace(timing, connections=args.connections)
    with postgres_server() as postgres:
        results = measure(timing, postgres, quick=args.quick, only=args.only, kept=kept)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_outputs(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
