"""What the generated service's event consumer costs: events per second of its consumer process
(``python -m orders_api.events consume``: decode and upcast through the registry, the example
projection's Lua script, the acknowledgement) against a bare consumer-group loop on the same
Redis that only reads and acknowledges, in the same run.

Each round fills a new stream with ``--events`` product.created events (their envelopes as the
service publishes them), then starts one process (the consumer or the bare loop) on it. The
rate is measured from the group's first delivery to the moment the group has nothing left to
deliver and nothing pending, read from XINFO GROUPS every few milliseconds, so process start-up
and the filling are left out. Both read 10 entries per call (the consumer's batch) on uvloop. The bare
loop acknowledges each entry as it reads it: one Redis round trip per event, as the consumer's
handler makes one (its script), while the consumer acknowledges a batch at once. Each round
also gives the CPU time the process spent per event (Linux ``/proc``), steadier than the rate
on a shared machine. Rounds alternate between the two so machine noise hits both alike; the
most events per second and the least CPU per event of each count. Target: consumer/bare at
least 0.5 in events per second.

The rounds run on the rendered service's interpreter (ROUND below), which has redis-py; Redis
is BENCH_REDIS_URL (default redis://127.0.0.1:6379/14), on stream keys of the run's own,
deleted after each round.

Usage: uv run python benchmarks/events_consume.py [--events 5000] [--rounds 3]
Needs: uv, and Redis at BENCH_REDIS_URL.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from harness import PACKAGE, PREFIX, REDIS_URL, render_and_install

TARGET_RATIO = 0.5
EVENTS = 5000  # per round
GROUP = "bench"
CHOICES = {
    "database": "none",
    "cache": "none",
    "taskQueue": "none",
    "events": "redis-streams",
    "tracing": "none",
}

# The bare loop: read 10 entries of the group at a time, acknowledge each; on uvloop, as the
# consumer runs.
BARE_LOOP = """
import sys

import uvloop
from redis.asyncio import Redis
from redis.exceptions import ResponseError


async def main(url, stream, group):
    client = Redis.from_url(url, decode_responses=True)
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError:
        pass
    while True:
        response = await client.xreadgroup(group, "bare", {stream: ">"}, count=10, block=1000)
        for _stream, entries in response or []:
            for entry_id, _fields in entries:
                await client.xack(stream, group, entry_id)


uvloop.run(main(*sys.argv[1:]))
"""

# One round: fill the stream, start the command, measure until the group is drained; prints
# {"events_per_second": ..., "cpu_us_per_event": ...}.
ROUND = """
import json, os, subprocess, sys, time
from datetime import UTC, datetime
from uuid import uuid4

from redis import Redis

url, stream, group, events, *command = sys.argv[1:]
events = int(events)
client = Redis.from_url(url, decode_responses=True)


def envelope_fields(now):
    envelope = {
        "id": str(uuid4()),
        "type": "product.created",
        "version": 2,
        "time": now,
        "tenant_id": "bench",
        "correlation_id": uuid4().hex,
        "trace_context": {},
        "payload": {
            "product_id": str(uuid4()),
            "name": "Widget",
            "description": "A benchmark widget",
            "price_cents": 999,
            "status": "active",
            "created_at": now,
        },
    }
    return {"envelope": json.dumps(envelope), "type": "product.created", "tenant": "bench"}


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_state():
    for info in client.xinfo_groups(stream):
        if info["name"] == group:
            return int(info["lag"] or 0), int(info["pending"])
    return None


now = datetime.now(UTC).isoformat()
pipeline = client.pipeline(transaction=False)
for number in range(events):
    pipeline.xadd(stream, envelope_fields(now))
pipeline.execute()
process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
try:
    deadline = time.monotonic() + 120
    started = None
    while True:
        if time.monotonic() > deadline or process.poll() is not None:
            sys.exit(f"not drained: {process.poll()} {process.stderr.read().decode()[-2000:]}")
        state = group_state() if client.exists(stream) else None
        if state is not None:
            lag, pending = state
            if started is None and (lag < events or pending):
                started, cpu_at_start = time.monotonic(), cpu_seconds(process.pid)
            if started is not None and lag == 0 and pending == 0:
                seconds = time.monotonic() - started
                cpu = cpu_seconds(process.pid) - cpu_at_start
                break
        time.sleep(0.002)
finally:
    process.terminate()
    process.wait(timeout=60)
    client.delete(*client.scan_iter(f"{stream}*"))
print(json.dumps({"events_per_second": events / seconds, "cpu_us_per_event": cpu / events * 1e6}))
"""


@dataclass(frozen=True)
class Rate:
    events_per_second: float
    cpu_us_per_event: float


def run_round(service: Path, env: dict[str, str], name: str, events: int) -> Rate:
    python = str(service / ".venv" / "bin" / "python")
    stream = f"bench-events-{uuid4().hex[:10]}"
    if name == "consumer":
        command = [python, "-m", f"{PACKAGE}.events", "consume", "--metrics-port", "0"]
    else:
        command = [python, "-c", BARE_LOOP, REDIS_URL, stream, GROUP]
    result = subprocess.run(
        [python, "-c", ROUND, REDIS_URL, stream, GROUP, str(events), *command],
        cwd=service,
        env={**env, f"{PREFIX}EVENTS_STREAM": stream},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} round failed: {result.stderr}")
    return Rate(**json.loads(result.stdout))


def run(events: int, rounds: int) -> dict[str, Any]:
    """Both processes' rates, best round of each, and their ratio."""
    with tempfile.TemporaryDirectory(prefix="bench-events-") as workspace:
        service = render_and_install(Path(workspace) / "service", **CHOICES)
        env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(PREFIX)},
            "VIRTUAL_ENV": "",
            f"{PREFIX}ENVIRONMENT": "development",
            f"{PREFIX}EVENTS_REDIS_URL": REDIS_URL,
            f"{PREFIX}EVENTS_CONSUMER_GROUP": GROUP,
        }
        rates: dict[str, list[Rate]] = {"consumer": [], "bare": []}
        for _ in range(rounds):
            for name, measured in rates.items():
                rate = run_round(service, env, name, events)
                measured.append(rate)
                print(
                    f"{name:9} {rate.events_per_second:9.0f} events/s"
                    f"   CPU {rate.cpu_us_per_event:6.1f} us/event",
                    flush=True,
                )
    best = {
        name: Rate(
            events_per_second=max(rate.events_per_second for rate in measured),
            cpu_us_per_event=min(rate.cpu_us_per_event for rate in measured),
        )
        for name, measured in rates.items()
    }
    for name, rate in best.items():
        print(
            f"best {name:9} {rate.events_per_second:9.0f} events/s"
            f"   CPU {rate.cpu_us_per_event:6.1f} us/event"
        )
    ratio = best["consumer"].events_per_second / best["bare"].events_per_second
    print(f"consumer/bare events per second {ratio:.2f} (target at least {TARGET_RATIO})")
    print(
        f"bare/consumer CPU per event {best['bare'].cpu_us_per_event / best['consumer'].cpu_us_per_event:.2f}"
    )
    return {
        "events": events,
        "rounds": rounds,
        "best": {name: dataclasses.asdict(rate) for name, rate in best.items()},
        "ratio": ratio,
    }


def verdicts(results: dict[str, Any]) -> list[tuple[str, float, str, bool]]:
    """(what, measured, the target, met)."""
    ratio = results["ratio"]
    return [("events/s consumer/bare", ratio, f">= {TARGET_RATIO}", ratio >= TARGET_RATIO)]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", maxsplit=1)[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.events, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
