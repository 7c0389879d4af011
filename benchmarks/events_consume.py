"""What the generated service's event consumer costs: events per second of its consumer process
(``python -m orders_api.events consume``: decode and upcast through the registry, the
projection's Lua script, the acknowledgement, a log line per event) against a bare
consumer-group loop on the same Redis that only reads and acknowledges, in the same run.

Each round fills a new stream with ``--events`` product.created events (their envelopes as the
service publishes them), then starts one process (the consumer or the bare loop) on it. The
rate is measured from the group's first delivery to the moment the group has nothing left to
deliver and nothing pending, read from XINFO GROUPS every few milliseconds, so process start-up
and the filling are left out. Both read 10 entries per call (the consumer's batch) and the bare
loop acknowledges each entry as it goes, as the consumer does. Rounds alternate between the two
so machine noise hits both alike; the best round of each counts. Target: consumer/bare at
least 0.5.

Each round also reports the CPU time the process spent per event (Linux ``/proc``), steadier
than the rate on a shared machine; of the rounds, the most events per second and the least
CPU per event count.

The measuring runs on the rendered service's own interpreter (this script again, with
``--measure``), whose environment has the Redis client.

Usage: uv run python benchmarks/events_consume.py [--events 5000] [--rounds 3]
Needs: uv, and Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379/14).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

PACKAGE = "orders_api"
PREFIX = "ORDERS_API_"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TARGET_RATIO = 0.5
GROUP = "bench"
BATCH = 10
CHOICES = {"database": "none", "cache": "none", "taskQueue": "none", "events": "redis-streams", "datadog": False}
BARE_LOOP = """
import asyncio
import sys

from redis.asyncio import Redis
from redis.exceptions import ResponseError


async def main(url: str, stream: str, group: str) -> None:
    client = Redis.from_url(url, decode_responses=True)
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError:
        pass
    while True:
        response = await client.xreadgroup(group, "bare", {stream: ">"}, count=%d, block=1000)
        for _stream, entries in response or []:
            for entry_id, _fields in entries:
                await client.xack(stream, group, entry_id)


asyncio.run(main(*sys.argv[1:]))
""" % BATCH


def envelope_fields(now: str) -> dict[str, str]:
    """A product.created v2 event as the service's registry builds it."""
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


def fill(client: Any, stream: str, events: int) -> None:
    now = datetime.now(UTC).isoformat()
    pipeline = client.pipeline(transaction=False)
    for number in range(events):
        pipeline.xadd(stream, envelope_fields(now))
        if number % 1000 == 999:
            pipeline.execute()
    pipeline.execute()


def group_state(client: Any, stream: str) -> tuple[int, int] | None:
    """(entries not yet delivered, pending) of the group; None before it exists."""
    for info in client.xinfo_groups(stream):
        if info["name"] == GROUP:
            return int(info["lag"] or 0), int(info["pending"])
    return None


@dataclass(frozen=True)
class Rate:
    events_per_second: float
    # CPU time the process spent per event: on a shared machine it moves far less with
    # other load than events per second do.
    cpu_us_per_event: float


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(client: Any, stream: str, events: int, process: subprocess.Popen[bytes]) -> Rate:
    """From the first delivery to the last acknowledgement."""
    deadline = time.monotonic() + 120
    started = None
    cpu_at_start = 0.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode}")
        state = group_state(client, stream)
        if state is not None:
            lag, pending = state
            if started is None and (lag < events or pending):
                started, cpu_at_start = time.monotonic(), cpu_seconds(process.pid)
            if started is not None and lag == 0 and pending == 0:
                seconds = time.monotonic() - started
                cpu = cpu_seconds(process.pid) - cpu_at_start
                return Rate(events / seconds, cpu / events * 1e6)
        time.sleep(0.002)
    raise RuntimeError("the stream was not drained within 120 s")


def run_round(
    client: Any, command: list[str], env: dict[str, str], stream: str, events: int, cwd: Path
) -> Rate:
    fill(client, stream, events)
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            return measure(client, stream, events, process)
        except RuntimeError as error:
            output.seek(0)
            tail = output.read().decode(errors="replace").splitlines()[-20:]
            raise RuntimeError(f"{error}:\n" + "\n".join(tail)) from None
        finally:
            process.terminate()
            process.wait(timeout=60)
            client.delete(*client.scan_iter(f"{stream}*"))


def measure_all(service: Path, events: int, rounds: int) -> None:
    """Alternating rounds of the consumer and the bare loop; run on the service's interpreter."""
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    bare = service / "bare_loop.py"
    bare.write_text(BARE_LOOP)
    base_env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(PREFIX)},
        f"{PREFIX}ENVIRONMENT": "development",
        f"{PREFIX}EVENTS_REDIS_URL": REDIS_URL,
        f"{PREFIX}EVENTS_CONSUMER_GROUP": GROUP,
        f"{PREFIX}DATADOG_ENABLED": "false",
    }
    rates: dict[str, list[Rate]] = {"consumer": [], "bare": []}
    for _ in range(rounds):
        for name in rates:
            stream = f"bench-events-{uuid4().hex[:10]}"
            env = {**base_env, f"{PREFIX}EVENTS_STREAM": stream}
            if name == "consumer":
                command = [sys.executable, "-m", f"{PACKAGE}.events", "consume", "--metrics-port", "0"]
            else:
                command = [sys.executable, str(bare), REDIS_URL, stream, GROUP]
            rate = run_round(client, command, env, stream, events, service)
            rates[name].append(rate)
            print(
                f"{name:9} {rate.events_per_second:9.0f} events/s"
                f"   CPU {rate.cpu_us_per_event:6.1f} us/event",
                flush=True,
            )
    fastest = {name: max(rate.events_per_second for rate in values) for name, values in rates.items()}
    leanest = {name: min(rate.cpu_us_per_event for rate in values) for name, values in rates.items()}
    print(
        f"best: consumer {fastest['consumer']:.0f} events/s ({leanest['consumer']:.1f} us CPU/event), "
        f"bare {fastest['bare']:.0f} events/s ({leanest['bare']:.1f} us CPU/event)"
    )
    ratio = fastest["consumer"] / fastest["bare"]
    print(f"consumer/bare events per second {ratio:.2f} (target at least {TARGET_RATIO})")
    print(f"bare/consumer CPU per event {leanest['bare'] / leanest['consumer']:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        measure_all(args.measure, args.events, args.rounds)
        return 0
    from harness import render_and_install

    with tempfile.TemporaryDirectory(prefix="bench-events-") as workspace:
        service = render_and_install(Path(workspace) / "service", **CHOICES)
        python = str(service / ".venv" / "bin" / "python")
        command = [python, __file__, "--measure", str(service)]
        command += ["--events", str(args.events), "--rounds", str(args.rounds)]
        return subprocess.run(command, cwd=service, env={**os.environ, "VIRTUAL_ENV": ""}, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
