"""The projection's deduplication, on Redis (the server of ``TEST_REDIS_URL``; marked
``redis``) and in memory: a duplicate inside the window has its effect once, and the IDs it
remembers stay within the window and the count limit."""

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from ${{ values.packageName }}.events.envelope import EventEnvelope
from ${{ values.packageName }}.products.event_projection import (
    InMemoryProductProjection,
    ProductProjection,
    RedisProductProjection,
)

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TENANT_ID = "tenant-a"
WINDOW_SECONDS = 3600.0
MAX_IDS = 5
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Projected:
    projection: ProductProjection
    # The Redis key of the tenant's applied IDs; None in memory.
    applied_key: str | None
    redis: Redis | None


@pytest.fixture(params=["in-memory", pytest.param("redis", marks=pytest.mark.redis)])
async def projected(request: pytest.FixtureRequest) -> AsyncIterator[Projected]:
    if request.param == "in-memory":
        yield Projected(
            InMemoryProductProjection(dedup_window_seconds=WINDOW_SECONDS, dedup_max_ids=MAX_IDS),
            None,
            None,
        )
        return
    prefix = f"test-projection-{uuid4().hex}"
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    projection = RedisProductProjection(
        client, prefix, dedup_window_seconds=WINDOW_SECONDS, dedup_max_ids=MAX_IDS
    )
    try:
        yield Projected(projection, f"{prefix}:projection:{{{TENANT_ID}}}:applied", client)
    finally:
        await client.delete(*[key async for key in client.scan_iter(f"{prefix}:*")])
        await client.aclose()


def created(at: datetime) -> EventEnvelope:
    return EventEnvelope(
        id=uuid4(),
        type="product.created",
        version=2,
        time=at,
        tenant_id=TENANT_ID,
        payload={},
    )


async def remembered(projected: Projected) -> int | None:
    """How many IDs Redis holds for the tenant (None in memory)."""
    if projected.redis is None or projected.applied_key is None:
        return None
    return int(await projected.redis.zcard(projected.applied_key))


async def test_a_duplicate_inside_the_window_has_its_effect_once(projected: Projected) -> None:
    projection = projected.projection
    event = created(START)
    assert await projection.apply(event, "p1", 1) is True
    # Later events, but not so late that the first leaves the window.
    for minutes in (10, 20):
        await projection.apply(created(START + timedelta(minutes=minutes)), "p", 1)

    assert await projection.apply(event, "p1", 1) is False
    assert (await projection.read(TENANT_ID)).products == 3


async def test_ids_older_than_the_window_are_forgotten(projected: Projected) -> None:
    projection = projected.projection
    old = created(START)
    await projection.apply(old, "p1", 1)
    await projection.apply(created(START + timedelta(seconds=WINDOW_SECONDS + 1)), "p2", 1)

    assert await remembered(projected) in (None, 1)
    # Beyond the window a redelivery is no longer recognised: it is applied again.
    assert await projection.apply(old, "p1", 1) is True


async def test_at_most_the_latest_ids_up_to_the_limit_are_kept(projected: Projected) -> None:
    projection = projected.projection
    events = [created(START + timedelta(seconds=second)) for second in range(3 * MAX_IDS)]
    for event in events:
        await projection.apply(event, "p", 1)

    assert await remembered(projected) in (None, MAX_IDS)
    for event in events[-MAX_IDS:]:
        assert await projection.apply(event, "p", 1) is False
    assert await projection.apply(events[0], "p", 1) is True
    assert (await projection.read(TENANT_ID)).products == 3 * MAX_IDS + 1


async def test_an_event_late_inside_the_window_is_still_deduplicated(
    projected: Projected,
) -> None:
    """The window runs back from the newest event applied, not from the latest applied."""
    projection = projected.projection
    await projection.apply(created(START + timedelta(minutes=30)), "p1", 1)
    late = created(START)
    assert await projection.apply(late, "p2", 1) is True

    assert await projection.apply(late, "p2", 1) is False
    assert (await projection.read(TENANT_ID)).products == 2
