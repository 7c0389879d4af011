"""The cache's Redis pool under more concurrent commands than connections: they wait for a
connection instead of failing, and a wait that ends in vain is a miss that the circuit
breaker does not count. On a private ``redis-server`` (marked ``redis``), so the
connections it accepted can be counted."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.connection import AbstractConnection

from conftest import PrivateRedis
from ${{ values.packageName }}.cache.aside import CacheAside
from ${{ values.packageName }}.cache.client import cache_lifespan
from ${{ values.packageName }}.cache.store import RedisCacheStore
from ${{ values.packageName }}.core.circuit_breaker import CircuitBreaker
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.health import HealthRegistry
from ${{ values.packageName }}.core.metrics import ServiceMetrics
from ${{ values.packageName }}.core.redis import create_redis

pytestmark = [pytest.mark.redis, pytest.mark.anyio]


def connections_accepted(redis: Redis) -> int:
    # redis-py 5 types a synchronous client's replies as possibly awaitable.
    stats: Any = redis.info("stats")
    accepted: int = stats["total_connections_received"]
    return accepted


def bypasses(metrics: ServiceMetrics) -> dict[tuple[str, str], float]:
    """Counted bypasses by (operation, reason)."""
    return {
        (sample.labels["operation"], sample.labels["reason"]): sample.value
        for metric in metrics.registry.collect()
        if metric.name == "cache_bypass"
        for sample in metric.samples
        if sample.name == "cache_bypass_total"
    }


async def hold_connection(client: AsyncRedis) -> AbstractConnection:
    """A connection of ``client``'s pool, taken as a command in flight takes it."""
    # redis-py 6 and later leave this method untyped; 5 types it.
    connection: AbstractConnection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call,unused-ignore]
    return connection


class Database:
    """The source of truth of these reads: counts the reads that reach it."""

    def __init__(self) -> None:
        self.reads = 0

    async def read(self) -> str:
        self.reads += 1
        return "from the database"


async def read_through(cache: CacheAside, key: str, database: Database) -> str | None:
    return await cache.get_or_load(key, database.read, encode=str.encode, decode=bytes.decode)


async def test_more_concurrent_reads_than_connections_wait_and_are_served_from_redis(
    private_redis: PrivateRedis, make_settings: Callable[..., Settings]
) -> None:
    # Timeouts of a second: what is tested is waiting rather than refusing, on a machine
    # that may be busy with other tests.
    settings = make_settings(
        redis_url=SecretStr(private_redis.url),
        redis_max_connections=4,
        redis_connect_timeout_seconds=1.0,
        redis_socket_timeout_seconds=1.0,
    )
    observer = Redis.from_url(private_redis.url, socket_timeout=2)
    observer.mset({f"product:{number}": f"cached {number}" for number in range(100)})
    accepted_before = connections_accepted(observer)
    metrics = ServiceMetrics()
    database = Database()

    async with cache_lifespan(settings, HealthRegistry(), metrics) as cache:
        values = await asyncio.gather(
            *(read_through(cache, f"product:{number}", database) for number in range(100))
        )
        opened = connections_accepted(observer) - accepted_before
    observer.close()

    assert values == [f"cached {number}" for number in range(100)]
    assert database.reads == 0
    # No bypass, so no failure reached the breaker: it stayed closed.
    assert bypasses(metrics) == {}
    assert opened == 4


async def test_a_read_that_finds_every_connection_held_is_answered_by_the_database(
    private_redis: PrivateRedis,
) -> None:
    wait_seconds = 0.1
    client = create_redis(
        private_redis.url,
        connect_timeout_seconds=wait_seconds,
        timeout_seconds=wait_seconds,
        max_connections=2,
    )
    breaker = CircuitBreaker("redis", failure_threshold=3, reset_seconds=60)
    metrics = ServiceMetrics()
    cache = CacheAside(RedisCacheStore(client, breaker, metrics), namespace="t", ttl_seconds=60)
    await client.set("product", b"cached")
    database = Database()

    async def read() -> tuple[str | None, float]:
        started = time.monotonic()
        value = await read_through(cache, "product", database)
        return value, time.monotonic() - started

    # Two commands in flight that hold the pool's two connections.
    held = [await hold_connection(client) for _ in range(2)]
    starved = [await read() for _ in range(5)]
    for connection in held:
        await client.connection_pool.release(connection)
    served = await read()
    await client.aclose()

    assert [value for value, _ in starved] == ["from the database"] * 5
    # Each read waited in vain once to look the product up and once to store it, then
    # went on: it was answered, not held up.
    for _, seconds in starved:
        assert 2 * wait_seconds - 0.01 <= seconds < 2 * wait_seconds + 0.5
    assert bypasses(metrics) == {("get", "pool_timeout"): 5, ("set", "pool_timeout"): 5}
    # Five misses, more than the breaker's threshold, yet Redis answers the next read.
    assert served[0] == "cached"
    assert database.reads == 5


async def test_a_trial_call_that_finds_every_connection_held_leaves_the_next_call_the_trial(
    private_redis: PrivateRedis,
) -> None:
    client = create_redis(
        private_redis.url, connect_timeout_seconds=0.1, timeout_seconds=0.1, max_connections=1
    )
    breaker = CircuitBreaker("redis", failure_threshold=1, reset_seconds=0.05)
    metrics = ServiceMetrics()
    store = RedisCacheStore(client, breaker, metrics)
    await client.set("product", b"cached")
    await breaker.record_failure()  # opened, as after a failed call
    await asyncio.sleep(0.05)

    held = await hold_connection(client)
    trial = await store.get("product")  # the half-open trial, starved of a connection
    await client.connection_pool.release(held)
    next_trial = await store.get("product")
    await client.aclose()

    assert trial is None
    assert bypasses(metrics) == {("get", "pool_timeout"): 1}
    assert next_trial == b"cached"
