"""The event consumer against the Redis at ``TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/14``): consumer processes as its Deployment runs them (``python -m
${{ values.packageName }}.events consume``), or the same code with its handlers stopped at a
gate (``gated_consumer.py``), killed or stopped while they hold an event; and the
dead-letter and replay commands. Each test has its own stream, group and projection keys,
deleted afterwards. Events are appended to the stream directly, as a publisher does."""

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
{% if values.datadog %}
from ddtrace.trace import tracer
{% endif %}
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from redis.asyncio import Redis

{% if values.taskQueue != 'none' %}
from conftest import PrivateRedis, stop_process
{% else %}
from conftest import stop_process
{% endif %}
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.health import HealthRegistry
from ${{ values.packageName }}.core.metrics import ServiceMetrics
from ${{ values.packageName }}.events import runner
from ${{ values.packageName }}.events.consumer import ConsumerOptions, EventConsumer, Outcome
from ${{ values.packageName }}.events.envelope import EventEnvelope
from ${{ values.packageName }}.events.handlers import EventHandler
from ${{ values.packageName }}.events.local import InProcessEventStream
from ${{ values.packageName }}.events.metrics import EventMetrics
from ${{ values.packageName }}.events.stream import RedisEventStream
from ${{ values.packageName }}.products.event_payloads import (
    PRODUCT_CREATED,
    PRODUCT_EVENTS,
    ProductCreatedV2,
)
from ${{ values.packageName }}.products.event_projection import RedisProductProjection, TenantProjection
from ${{ values.packageName }}.products.models import ProductStatus

SetEnv = Callable[[str, str], None]
TenantHeaders = Callable[[str], dict[str, str]]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
TENANT_ID = "tenant-events"
GROUP = "consumers"
MAX_DELIVERIES = 3
PACKAGE = "${{ values.packageName }}.events"
CONSUME = [sys.executable, "-m", PACKAGE, "consume", "--metrics-port", "0"]
GATED_CONSUMER = [sys.executable, str(Path(__file__).with_name("gated_consumer.py"))]
READINESS_PROBE = [sys.executable, "-m", f"{PACKAGE}.probes", "ready"]


@pytest.fixture
def client() -> Iterator[Any]:
    """Typed Any: redis-py versions type their commands differently."""
    connection: Any = redis.Redis.from_url(
        REDIS_URL, socket_connect_timeout=1, socket_timeout=5, decode_responses=True
    )
    yield connection
    connection.close()


@pytest.fixture
def stream(
    base_env: SetEnv, client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """A stream key of this test's own, in the environment of every process it starts, which
    reclaim an idle event after one second."""
    key = f"test-events-{uuid.uuid4().hex[:12]}"
    for name, value in {
        "EVENTS_REDIS_URL": REDIS_URL,
        "EVENTS_STREAM": key,
        "EVENTS_CONSUMER_GROUP": GROUP,
        "EVENTS_CLAIM_IDLE_SECONDS": "1",
        "EVENTS_MAX_DELIVERIES": str(MAX_DELIVERIES),
    }.items():
        base_env(name, value)
    # The probes' files: this test's own (/tmp in the pod).
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    yield key
    keys = list(client.scan_iter(f"{key}*"))
    if keys:
        client.delete(*keys)


def created(name: str = "Widget") -> ProductCreatedV2:
    return ProductCreatedV2(
        product_id=uuid.uuid4(),
        name=name,
        description=None,
        price_cents=1990,
        status=ProductStatus.ACTIVE,
        created_at=datetime.now(UTC),
    )


def publish(client: Any, stream: str, payload: BaseModel) -> EventEnvelope:
    envelope = PRODUCT_EVENTS.envelope(payload, TENANT_ID)
    client.xadd(stream, envelope.to_fields())
    return envelope


def projection(stream: str) -> TenantProjection:
    async def read() -> TenantProjection:
        connection = Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            return await RedisProductProjection(connection, stream).read(TENANT_ID)
        finally:
            await connection.aclose()

    return asyncio.run(read())


def applied_events(stream: str) -> tuple[int, list[str]]:
    """The product count and the IDs in the audit trail (in any order: the events of a batch
    are handled concurrently)."""
    result = projection(stream)
    return result.products, sorted(entry["event_id"] for entry in result.audit_trail)


def pending(client: Any, stream: str) -> int:
    return int(client.xpending(stream, GROUP)["pending"])


def dead_letters(client: Any, stream: str) -> list[dict[str, str]]:
    return [fields for _, fields in client.xrange(f"{stream}:dead-letters")]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def consumer(log: Path, command: list[str] = CONSUME) -> Iterator[subprocess.Popen[bytes]]:
    """A consumer process in the test's environment, stopped at the end as Kubernetes stops
    it (SIGTERM, then SIGKILL if it has not exited)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            stop_process(process, timeout=20)


def run_command(*arguments: str) -> tuple[int, list[dict[str, Any]]]:
    """A ``python -m ...events`` command; its status and JSON lines."""
    result = subprocess.run(
        [sys.executable, "-m", PACKAGE, *arguments],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.returncode, [line for line in lines if "event" not in line]


def log_lines(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def ready() -> bool:
    probe = subprocess.run(READINESS_PROBE, env=dict(os.environ), timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.redis
@pytest.mark.parametrize("gate", ["before", "after"], ids=["before-effect", "after-effect"])
def test_an_event_held_by_a_killed_consumer_is_claimed_and_applied_once(
    gate: str, stream: str, client: Any, base_env: SetEnv, tmp_path: Path
) -> None:
    gate_folder = tmp_path / "gate"
    gate_folder.mkdir()
    with consumer(tmp_path / "killed.log", [*GATED_CONSUMER, str(gate_folder), gate]) as killed:
        envelope = publish(client, stream, created())
        wait_for((gate_folder / "entered").exists, 20, "the handler to hold the event")
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert pending(client, stream) == 1
    base_env("LOG_LEVEL", "DEBUG")  # a line per event handled
    log = tmp_path / "other.log"
    with consumer(log):
        wait_for(lambda: pending(client, stream) == 0, 30, "another consumer to claim it")
    result = projection(stream)
    assert result.products == 1
    assert [entry["event_id"] for entry in result.audit_trail] == [str(envelope.id)]
    (handled,) = [line for line in log_lines(log) if line["event"] == "event handled"]
    # Killed after its effect: the second delivery finds it applied.
    assert handled["outcome"] == ("duplicate" if gate == "after" else "applied")
    assert handled["delivery"] == 2
    assert handled["event_id"] == str(envelope.id)
    assert handled["correlation_id"] == envelope.correlation_id


@pytest.mark.redis
def test_sigterm_finishes_the_event_in_hand_then_exits(
    stream: str, client: Any, tmp_path: Path
) -> None:
    gate_folder = tmp_path / "gate"
    gate_folder.mkdir()
    with consumer(
        tmp_path / "consumer.log", [*GATED_CONSUMER, str(gate_folder), "before"]
    ) as process:
        wait_for(ready, 20, "the consumer to be ready")
        publish(client, stream, created())
        wait_for((gate_folder / "entered").exists, 20, "the handler to hold the event")
        process.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert process.poll() is None, "stopped with an event in hand"
        (gate_folder / "open").touch()
        assert process.wait(timeout=10) == 0
    assert pending(client, stream) == 0
    assert projection(stream).products == 1
    assert not ready()


@pytest.mark.redis
def test_poison_events_are_dead_lettered_with_the_reason_and_redriven_after_a_fix(
    stream: str, client: Any, tmp_path: Path
) -> None:
    valid = PRODUCT_EVENTS.envelope(created(), TENANT_ID)
    client.xadd(stream, {"envelope": "{not json", "type": PRODUCT_CREATED, "tenant": TENANT_ID})
    unknown_version = valid.model_copy(update={"id": uuid.uuid4(), "version": 9})
    client.xadd(stream, unknown_version.to_fields())
    invalid = valid.model_copy(update={"id": uuid.uuid4(), "payload": {"name": "no id"}})
    client.xadd(stream, invalid.to_fields())
    # The handler fails on every delivery: the projection's count is not a hash.
    counts_key = f"{stream}:projection:{{{TENANT_ID}}}:counts"
    client.set(counts_key, "not a hash")
    failing_id = client.xadd(stream, valid.to_fields())
    with consumer(tmp_path / "consumer.log"):
        wait_for(lambda: len(dead_letters(client, stream)) == 4, 30, "four dead letters")
        # Each acknowledged once written: nothing left to retry.
        wait_for(lambda: pending(client, stream) == 0, 10, "the acknowledgements")
        reasons = {fields["source_id"]: fields["reason"] for fields in dead_letters(client, stream)}
        assert reasons[failing_id].startswith(
            f"max_deliveries: handler failed {MAX_DELIVERIES} times, last: "
        )
        assert "WRONGTYPE" in reasons[failing_id]
        assert sorted(reason.split(":")[0] for reason in reasons.values()) == [
            "invalid",
            "malformed",
            "max_deliveries",
            "unknown",
        ]
        assert f"unknown version 9 of {PRODUCT_CREATED}" in str(reasons)
        status, listed = run_command("dead-letters", "list")
        assert status == 0
        assert {line["source_id"]: line["reason"] for line in listed} == reasons
        by_source = {line["source_id"]: line["id"] for line in listed}
        # A malformed entry has no envelope to put back.
        (malformed,) = [source for source, why in reasons.items() if why.startswith("malformed")]
        status, result = run_command("dead-letters", "redrive", "--id", by_source[malformed])
        assert status == 1
        assert result[0]["redriven"] is False
        assert result[0]["reason"].startswith("malformed, cannot be re-driven")
        client.delete(counts_key)  # the fix
        status, result = run_command("dead-letters", "redrive", "--id", by_source[failing_id])
        assert (status, result) == (0, [{"id": by_source[failing_id], "redriven": True}])
        wait_for(lambda: projection(stream).products == 1, 20, "the re-driven event's effect")
    assert len(dead_letters(client, stream)) == 3
    assert pending(client, stream) == 0


class Recorder:
    def __init__(self) -> None:
        self.events: list[BaseModel] = []

    async def __call__(self, envelope: EventEnvelope, event: BaseModel) -> bool:
        self.events.append(event)
        return True


async def process_one(
    stream: str, envelope: EventEnvelope, handler: EventHandler, metrics: ServiceMetrics
) -> Outcome:
    """``envelope`` appended, read through the group and processed by an in-process consumer
    whose only handler, for its type, is ``handler``; nothing may stay pending."""
    connection = Redis.from_url(REDIS_URL, decode_responses=True)
    event_metrics = EventMetrics.of(metrics)
    events = RedisEventStream(
        connection, stream, max_length=1000, timeout_seconds=2, metrics=event_metrics
    )
    options = ConsumerOptions(
        group=GROUP, name="one", claim_idle_seconds=1, max_deliveries=3, probe_files=False
    )
    consumer = EventConsumer(
        events, PRODUCT_EVENTS, {envelope.type: handler}, event_metrics, options
    )
    try:
        await events.ensure_group(GROUP)
        await events.append(envelope)
        (entry,) = await events.read_new(GROUP, "one", 10, 1)
        (outcome,) = await consumer.process([entry])
        assert await events.pending(GROUP) == 0
    finally:
        await connection.aclose()
    return outcome


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_v1_event_reaches_the_handler_upcast_to_v2(stream: str) -> None:
    product_id = uuid.uuid4()
    v1 = EventEnvelope(
        id=uuid.uuid4(),
        type=PRODUCT_CREATED,
        version=1,
        time=datetime.now(UTC),
        tenant_id=TENANT_ID,
        payload={
            "product_id": str(product_id),
            "name": "Old widget",
            "description": None,
            "price": "19.99",
            "status": "active",
            "created_at": "2026-01-01T00:00:00Z",
        },
    )
    recorder = Recorder()
    metrics = ServiceMetrics()
    assert await process_one(stream, v1, recorder, metrics) is Outcome.APPLIED
    (event,) = recorder.events
    assert isinstance(event, ProductCreatedV2)
    assert (event.product_id, event.price_cents) == (product_id, 1999)
    consumed = metrics.registry.get_sample_value(
        "events_consumed_total", {"type": PRODUCT_CREATED, "outcome": "applied"}
    )
    assert consumed == 1
{% if values.datadog %}


@pytest.mark.redis
@pytest.mark.anyio
async def test_the_handler_runs_in_a_span_of_the_publishing_request_s_trace(
    stream: str,
) -> None:
    published = PRODUCT_EVENTS.envelope(created(), TENANT_ID)
    trace_context = {
        "x-datadog-trace-id": "1234567890123",
        "x-datadog-parent-id": "987654321",
        "x-datadog-sampling-priority": "1",
    }
    envelope = published.model_copy(update={"trace_context": trace_context})
    spans: list[tuple[int, int | None, str, str]] = []

    async def handler(_envelope: EventEnvelope, _event: BaseModel) -> bool:
        span = tracer.current_span()
        assert span is not None
        spans.append((span.trace_id, span.parent_id, span.name, span.resource))
        return True

    assert await process_one(stream, envelope, handler, ServiceMetrics()) is Outcome.APPLIED
    assert spans == [(1234567890123, 987654321, "event.consume", PRODUCT_CREATED)]
{% endif %}


@pytest.mark.redis
def test_replay_changes_nothing_already_applied_and_is_bounded(
    stream: str, client: Any, tmp_path: Path
) -> None:
    for number in range(3):
        publish(client, stream, created(f"Widget {number}"))
        time.sleep(0.01)  # a millisecond time of its own for each
    with consumer(tmp_path / "consumer.log"):
        wait_for(lambda: projection(stream).products == 3, 20, "three events applied")
    before = applied_events(stream)

    status, result = run_command("replay", "--type", PRODUCT_CREATED)
    assert (status, result) == (
        0,
        [{"type": PRODUCT_CREATED, "applied": 0, "unchanged": 3, "failed": 0}],
    )
    assert applied_events(stream) == before

    # A new projection (its keys deleted), rebuilt by replays.
    client.delete(*client.scan_iter(f"{stream}:projection:*"))
    status, result = run_command("replay", "--type", PRODUCT_CREATED, "--max", "2")
    assert result[0]["applied"] == 2
    assert projection(stream).products == 2
    third_id = client.xrange(stream)[2][0]
    since = datetime.fromtimestamp(int(third_id.split("-")[0]) / 1000, UTC).isoformat()
    status, result = run_command("replay", "--type", PRODUCT_CREATED, "--since", since)
    assert (result[0]["applied"], result[0]["unchanged"]) == (1, 0)
    assert applied_events(stream) == before


def consumed_applied(api: TestClient) -> float:
    """``events_consumed_total`` of product.created events applied, from ``/metrics``."""
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for sample in family.samples:
            labels = {"type": PRODUCT_CREATED, "outcome": "applied"}
            if sample.name == "events_consumed_total" and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_without_the_stream_s_redis_the_api_runs_the_consumer_itself(
    app: FastAPI, tenant_headers: TenantHeaders
) -> None:
    with TestClient(app, headers=tenant_headers(TENANT_ID)) as api:
        response = api.post("/api/v1/products", json={"name": "Widget", "price": "19.90"})
        assert response.status_code == 201, response.text
        wait_for(lambda: consumed_applied(api) == 1, 10, "the in-process consumer")


@pytest.mark.anyio
async def test_the_api_stops_its_consumer_without_waiting_out_a_blocked_read(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads that block for 30 s: stopping must not wait for their end.
    blocking_long = functools.partial(ConsumerOptions, block_seconds=30.0)
    monkeypatch.setattr(runner, "ConsumerOptions", blocking_long)
    metrics = ServiceMetrics()
    stream = InProcessEventStream(max_length=10, metrics=EventMetrics.of(metrics))
    async with asyncio.timeout(10):
        async with runner.in_process_consumer(make_settings(), stream, HealthRegistry(), metrics):
            await asyncio.sleep(0.2)  # the consumer is blocked in its read by now


def test_the_commands_refuse_to_run_without_the_stream_s_redis(base_env: SetEnv) -> None:
    result = subprocess.run(
        [sys.executable, "-m", PACKAGE, "consume"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "EVENTS_REDIS_URL is not set" in line
{% if values.taskQueue != 'none' %}


@pytest.mark.redis
def test_the_notification_task_waits_in_the_stream_while_the_broker_is_down(
    stream: str, client: Any, base_env: SetEnv, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """product.created's handler queues the notification task: while the broker is down the
    handler fails and the event stays pending, handled again until the broker takes it."""
    private_redis.stop()  # the broker is down when the consumer starts
    queue = f"{stream}-tasks"
    base_env("TASK_BROKER_URL", private_redis.url)
    base_env("TASK_QUEUE_NAME", queue)
    base_env("EVENTS_MAX_DELIVERIES", "100")
    log = tmp_path / "consumer.log"
    with consumer(log):
        envelope = publish(client, stream, created())
        wait_for(
            lambda: "event handler failed, will retry" in log.read_text(), 30, "a failed attempt"
        )
        assert pending(client, stream) == 1
        private_redis.start()
        wait_for(lambda: pending(client, stream) == 0, 30, "the event handled again")
        broker: Any = redis.Redis.from_url(private_redis.url, decode_responses=True)
{% if values.taskQueue == 'arq' %}
        queued = list(broker.zrange(queue, 0, -1))
{% else %}
        messages = broker.lrange(queue, 0, -1)
        queued = [json.loads(message)["headers"]["id"] for message in messages]
{% endif %}
        broker.close()
    product_id = envelope.payload["product_id"]
    assert queued == [f"product-created-{product_id}"]
    assert projection(stream).products == 1
{% endif %}
