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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import redis

from harness import PACKAGE, PREFIX, REDIS_URL, render_and_install

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


def measure(client: Any, stream: str, events: int, process: subprocess.Popen[bytes]) -> float:
    """Events per second from the first delivery to the last acknowledgement."""
    deadline = time.monotonic() + 120
    started = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode}")
        state = group_state(client, stream)
        if state is not None:
            lag, pending = state
            if started is None and (lag < events or pending):
                started = time.monotonic()
            if started is not None and lag == 0 and pending == 0:
                return events / (time.monotonic() - started)
        time.sleep(0.002)
    raise RuntimeError("the stream was not drained within 120 s")


def run_round(
    client: Any, command: list[str], env: dict[str, str], stream: str, events: int, cwd: Path
) -> float:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    client: Any = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    with tempfile.TemporaryDirectory(prefix="bench-events-") as workspace:
        service = render_and_install(Path(workspace) / "service", **CHOICES)
        python = str(service / ".venv" / "bin" / "python")
        bare = Path(workspace) / "bare_loop.py"
        bare.write_text(BARE_LOOP)
        base_env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(PREFIX)},
            "VIRTUAL_ENV": "",
            f"{PREFIX}ENVIRONMENT": "development",
            f"{PREFIX}EVENTS_REDIS_URL": REDIS_URL,
            f"{PREFIX}EVENTS_CONSUMER_GROUP": GROUP,
            f"{PREFIX}DATADOG_ENABLED": "false",
        }
        rates: dict[str, list[float]] = {"consumer": [], "bare": []}
        for _ in range(args.rounds):
            for name in rates:
                stream = f"bench-events-{uuid4().hex[:10]}"
                env = {**base_env, f"{PREFIX}EVENTS_STREAM": stream}
                if name == "consumer":
                    command = [python, "-m", f"{PACKAGE}.events", "consume", "--metrics-port", "0"]
                else:
                    command = [python, str(bare), REDIS_URL, stream, GROUP]
                rate = run_round(client, command, env, stream, args.events, service)
                rates[name].append(rate)
                print(f"{name:9} {rate:9.0f} events/s", flush=True)
    best = {name: max(values) for name, values in rates.items()}
    ratio = best["consumer"] / best["bare"]
    print(f"best: consumer {best['consumer']:.0f} events/s, bare {best['bare']:.0f} events/s")
    print(f"consumer/bare {ratio:.2f} (target at least {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
