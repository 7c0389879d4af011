"""One contract, two streams: every test runs on the in-process stream and on Redis Streams
(the server of ``TEST_REDIS_URL``, default the local one, database 13; marked ``redis``),
each test on a stream key of its own. ``end_blocked_reads``, which only the in-process
stream has, is tested on that stream alone."""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.health import HealthRegistry
from ${{ values.packageName }}.core.metrics import ServiceMetrics
from ${{ values.packageName }}.events.envelope import EventEnvelope
from ${{ values.packageName }}.events.lifespan import events_lifespan
from ${{ values.packageName }}.events.local import InProcessEventStream
from ${{ values.packageName }}.events.metrics import EventMetrics
from ${{ values.packageName }}.events.stream import (
    EventStream,
    PartialAppendError,
    RedisEventStream,
    StreamEntry,
)

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
GROUP = "projections"


@dataclass(frozen=True)
class Opened:
    stream: EventStream
    metrics: ServiceMetrics
    health: HealthRegistry


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
async def opened(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[Opened]:
    """The stream ``events_lifespan`` opens: in process without a URL, Redis with one."""
    key = f"test-events-{uuid4().hex}"
    overrides: dict[str, Any] = {"events_stream": key, "events_stream_max_length": 50}
    if request.param == "redis":
        overrides["events_redis_url"] = SecretStr(REDIS_URL)
    metrics, health = ServiceMetrics(), HealthRegistry()
    async with events_lifespan(make_settings(**overrides), health, metrics) as stream:
        yield Opened(stream, metrics, health)
    if request.param == "redis":
        client = Redis.from_url(REDIS_URL)
        await client.delete(key, f"{key}:dead-letters")
        await client.aclose()


def event(number: int, tenant_id: str = "tenant-a") -> EventEnvelope:
    return EventEnvelope(
        id=uuid4(),
        type="product.deleted",
        version=1,
        time=datetime.now(UTC),
        tenant_id=tenant_id,
        payload={"number": number},
    )


def numbers(entries: list[StreamEntry]) -> list[int]:
    return [EventEnvelope.from_fields(entry.fields).payload["number"] for entry in entries]


async def append(stream: EventStream, count: int) -> list[str]:
    return [await stream.append(event(number)) for number in range(count)]


async def test_appended_entries_keep_their_envelope_type_and_tenant(opened: Opened) -> None:
    sent = event(1, tenant_id="tenant-b")
    entry_id = await opened.stream.append(sent)

    [entry] = await opened.stream.range("-", "+", 10)

    assert entry.id == entry_id
    assert entry.fields["type"] == "product.deleted"
    assert entry.fields["tenant"] == "tenant-b"
    assert EventEnvelope.from_fields(entry.fields) == sent
    assert await opened.stream.last_id() == entry_id
    published = opened.metrics.registry.get_sample_value(
        "events_published_total", {"type": "product.deleted"}
    )
    assert published == 1


async def test_a_serialised_batch_is_appended_in_order_as_append_would(opened: Opened) -> None:
    batch = [event(number, tenant_id=f"tenant-{number}") for number in range(3)]

    await opened.stream.append_serialised([each.model_dump_json() for each in batch])
    await opened.stream.append(single := event(3))

    entries = await opened.stream.range("-", "+", 10)
    assert numbers(entries) == [0, 1, 2, 3]
    assert [entry.fields for entry in entries] == [each.to_fields() for each in [*batch, single]]
    published = opened.metrics.registry.get_sample_value(
        "events_published_total", {"type": "product.deleted"}
    )
    assert published == 4


@pytest.mark.redis
async def test_a_batch_redis_refuses_tells_how_many_were_appended() -> None:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"test-events-{uuid4().hex}"
    await client.set(key, "not a stream")
    stream = RedisEventStream(
        client,
        key,
        max_length=50,
        timeout_seconds=2.0,
        metrics=EventMetrics.of(ServiceMetrics()),
    )
    try:
        with pytest.raises(PartialAppendError) as refused:
            await stream.append_serialised([event(1).model_dump_json()])
    finally:
        await client.delete(key)
        await client.aclose()

    assert refused.value.appended == 0
    assert "WRONGTYPE" in str(refused.value.__cause__)


async def test_ids_grow_and_ranges_are_inclusive(opened: Opened) -> None:
    ids = await append(opened.stream, 5)

    assert ids == sorted(ids, key=lambda entry_id: tuple(map(int, entry_id.split("-"))))
    assert numbers(await opened.stream.range(ids[1], ids[3], 10)) == [1, 2, 3]
    assert numbers(await opened.stream.range(ids[1], "+", 2)) == [1, 2]


async def test_a_bare_millisecond_time_is_a_range_bound(opened: Opened) -> None:
    before = await append(opened.stream, 2)
    await asyncio.sleep(0.01)
    middle = int(time.time() * 1000)
    await asyncio.sleep(0.01)
    await append(opened.stream, 1)

    assert len(before) == 2
    assert numbers(await opened.stream.range("-", str(middle), 10)) == [0, 1]
    assert numbers(await opened.stream.range(str(middle), "+", 10)) == [0]


async def test_retention_keeps_about_the_configured_length(opened: Opened) -> None:
    await append(opened.stream, 400)

    kept = await opened.stream.range("-", "+", 1000)

    # Redis trims whole nodes of entries (~), so a few more than 50 may stay.
    assert 50 <= len(kept) < 400
    assert numbers(kept)[-1] == 399


async def test_read_after_resumes_exactly_after_an_id(opened: Opened) -> None:
    ids = await append(opened.stream, 4)

    assert numbers(await opened.stream.read_after(ids[1], 10, 0)) == [2, 3]
    assert await opened.stream.read_after(ids[3], 10, 0) == []


async def test_read_after_none_waits_for_new_entries_only(opened: Opened) -> None:
    await append(opened.stream, 2)

    async def append_soon() -> None:
        await asyncio.sleep(0.2)
        await opened.stream.append(event(7))

    writer = asyncio.create_task(append_soon())
    started = time.monotonic()
    entries = await opened.stream.read_after(None, 10, 5)
    await writer

    assert numbers(entries) == [7]
    assert time.monotonic() - started < 4


async def test_a_blocking_read_returns_empty_after_its_block(opened: Opened) -> None:
    started = time.monotonic()

    assert await opened.stream.read_after(await opened.stream.last_id(), 10, 0.3) == []
    assert 0.25 <= time.monotonic() - started < 2


async def test_ending_the_blocked_reads_returns_those_blocked_now_only() -> None:
    stream = InProcessEventStream(max_length=10, metrics=EventMetrics.of(ServiceMetrics()))
    await stream.ensure_group(GROUP)
    blocked = asyncio.create_task(stream.read_new(GROUP, "consumer-a", 10, 30))
    await asyncio.sleep(0.05)

    stream.end_blocked_reads()

    async with asyncio.timeout(5):
        assert await blocked == []
    started = time.monotonic()
    assert await stream.read_after(await stream.last_id(), 10, 0.3) == []
    assert time.monotonic() - started >= 0.25


async def test_a_group_delivers_each_entry_once_until_acknowledged(opened: Opened) -> None:
    await opened.stream.ensure_group(GROUP)
    await opened.stream.ensure_group(GROUP)  # a second call changes nothing
    await append(opened.stream, 3)
    assert await opened.stream.lag(GROUP) == 3

    first = await opened.stream.read_new(GROUP, "c1", 2, 0)
    second = await opened.stream.read_new(GROUP, "c2", 10, 0)

    assert numbers(first) == [0, 1]
    assert numbers(second) == [2]
    assert {entry.deliveries for entry in first + second} == {1}
    assert await opened.stream.read_new(GROUP, "c1", 10, 0) == []
    assert await opened.stream.lag(GROUP) == 0
    assert await opened.stream.pending(GROUP) == 3
    await opened.stream.ack(GROUP, *(entry.id for entry in first))
    assert await opened.stream.pending(GROUP) == 1


async def test_a_group_reads_entries_appended_before_it_was_created(opened: Opened) -> None:
    await append(opened.stream, 2)
    await opened.stream.ensure_group(GROUP)

    assert numbers(await opened.stream.read_new(GROUP, "c1", 10, 0)) == [0, 1]


async def test_idle_pending_entries_are_claimed_with_their_delivery_count(opened: Opened) -> None:
    await opened.stream.ensure_group(GROUP)
    await append(opened.stream, 2)
    delivered = await opened.stream.read_new(GROUP, "dead-consumer", 10, 0)
    await opened.stream.ack(GROUP, delivered[1].id)

    assert await opened.stream.claim_idle(GROUP, "c2", 5, 10) == []
    await asyncio.sleep(0.15)
    claimed = await opened.stream.claim_idle(GROUP, "c2", 0.1, 10)

    assert [(entry.id, entry.deliveries) for entry in claimed] == [(delivered[0].id, 2)]
    assert claimed[0].fields == delivered[0].fields
    await asyncio.sleep(0.15)
    again = await opened.stream.claim_idle(GROUP, "c3", 0.1, 10)
    assert [entry.deliveries for entry in again] == [3]


async def test_dead_letters_keep_the_entry_and_the_reason(opened: Opened) -> None:
    await append(opened.stream, 1)
    [entry] = await opened.stream.range("-", "+", 1)

    first = await opened.stream.dead_letter(entry, "invalid: price_cents: too small")
    second = await opened.stream.dead_letter(entry, "failed: 5 deliveries")

    letters = await opened.stream.dead_letters(10)
    assert [letter.id for letter in letters] == [first, second]
    assert letters[0].fields == entry.fields
    assert letters[0].source_id == entry.id
    assert letters[0].reason == "invalid: price_cents: too small"
    assert await opened.stream.delete_dead_letter(first) is True
    assert await opened.stream.delete_dead_letter(first) is False
    assert [letter.id for letter in await opened.stream.dead_letters(10)] == [second]
    # The dead letters are not entries of the event stream.
    assert len(await opened.stream.range("-", "+", 10)) == 1
    counted = opened.metrics.registry.get_sample_value(
        "events_dead_lettered_total", {"type": "product.deleted", "reason": "invalid"}
    )
    assert counted == 1


async def test_redis_is_a_non_critical_readiness_check(opened: Opened) -> None:
    report = await opened.health.check()

    if isinstance(opened.stream, RedisEventStream):
        assert report.checks["events"].status == "ok"
        assert report.checks["events"].critical is False
    else:
        assert isinstance(opened.stream, InProcessEventStream)
        assert "events" not in report.checks


async def test_every_call_is_bounded_by_its_timeout(make_settings: Callable[..., Settings]) -> None:
    # A server that accepts connections and never answers: the stream must give up, not hang.
    silent: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = make_settings(
        events_redis_url=SecretStr(f"redis://127.0.0.1:{port}/0"),
        events_redis_timeout_seconds=0.3,
    )
    try:
        async with events_lifespan(settings, HealthRegistry(), ServiceMetrics()) as stream:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await stream.append(event(1))
            assert time.monotonic() - started < 2
    finally:
        for writer in silent:
            writer.close()
        server.close()
        await server.wait_closed()
