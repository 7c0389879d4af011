"""The product read cache: cache-aside over Redis, invalidation, single-flight loads, the
in-process stand-in, and bypass when Redis is down, stopped or paused.

Redis is the shared server of ``TEST_REDIS_URL`` (default: the local one, database 15),
or a private ``redis-server`` that a test stops and pauses; the tests that need either are
marked ``redis``."""

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis import Redis
{% if values.sqlDatabase %}
from sqlalchemy import event
{% endif %}

from conftest import PrivateRedis, free_port
from ${{ values.packageName }}.cache.aside import CacheAside
from ${{ values.packageName }}.cache.store import (
    InProcessCacheStore,
)
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.deps import services_of
{% if values.sqlDatabase and values.events == 'redis-streams' %}
from ${{ values.packageName }}.events.relay import RELAY_TASK_NAME
{% endif %}
from ${{ values.packageName }}.main import create_app
from ${{ values.packageName }}.products.cached import SCHEMA_VERSION

BASE = "/api/v1/products"
TENANT_ID = "tenant-cache"
AppFactory = Callable[..., FastAPI]
TenantHeaders = Callable[[str], dict[str, str]]
SHARED_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def shared_redis() -> Iterator[Redis]:
    client = Redis.from_url(SHARED_REDIS_URL, socket_timeout=2)
    yield client
    client.close()


@pytest.fixture
def cached_app_factory(make_settings: Callable[..., Settings]) -> Callable[..., FastAPI]:
    """Apps whose cache is the Redis at ``url``, under a namespace of their own."""

    def build(url: str, **overrides: Any) -> FastAPI:
        return create_app(
            make_settings(
                redis_url=SecretStr(url), service_name=f"test-{uuid4().hex[:12]}", **overrides
            )
        )

    return build


@contextmanager
def running(app: FastAPI, headers: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, headers=headers) as client:
        yield client


def create(client: TestClient) -> dict[str, Any]:
    response = client.post(BASE, json={"name": "Widget", "price": "9.99"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def cache_keys(redis: Redis, app: FastAPI) -> list[str]:
    pattern = f"{services_of(app).settings.service_name}:*"
    return sorted(key.decode() for key in redis.scan_iter(match=pattern))


def bypasses(client: TestClient) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("cache_bypass_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.redis
def test_reads_are_served_from_redis(
    cached_app_factory: AppFactory, shared_redis: Redis, tenant_headers: TenantHeaders
) -> None:
    app = cached_app_factory(SHARED_REDIS_URL, cache_ttl_seconds=60)
    with running(app, tenant_headers(TENANT_ID)) as client:
        product = create(client)
        assert client.get(f"{BASE}/{product['id']}").json() == product
        [key] = cache_keys(shared_redis, app)
        ttl = shared_redis.ttl(key)
        entry = shared_redis.get(key)
        # Narrowed by hand: redis-py 5 types replies loosely.
        assert isinstance(ttl, int)
        assert isinstance(entry, bytes)
        cached = json.loads(entry)
        shared_redis.set(key, json.dumps({**cached, "name": "from the cache"}))

        served = client.get(f"{BASE}/{product['id']}").json()

    assert served["name"] == "from the cache"
    namespace = services_of(app).settings.service_name
    assert key == f"{namespace}:{SCHEMA_VERSION}:{TENANT_ID}:product:{product['id']}"
    assert 0 < ttl <= 60
    shared_redis.delete(key)


@pytest.mark.redis
def test_update_and_delete_invalidate(
    cached_app_factory: AppFactory, shared_redis: Redis, tenant_headers: TenantHeaders
) -> None:
    app = cached_app_factory(SHARED_REDIS_URL)
    with running(app, tenant_headers(TENANT_ID)) as client:
        product = create(client)
        url = f"{BASE}/{product['id']}"
        client.get(url)
        assert len(cache_keys(shared_redis, app)) == 1

        client.patch(url, json={"name": "renamed"})
        assert cache_keys(shared_redis, app) == []
        assert client.get(url).json()["name"] == "renamed"

        client.delete(url)
        assert cache_keys(shared_redis, app) == []
        assert client.get(url).status_code == 404


@pytest.mark.redis
def test_tenants_do_not_share_entries(
    cached_app_factory: AppFactory, shared_redis: Redis, tenant_headers: TenantHeaders
) -> None:
    app = cached_app_factory(SHARED_REDIS_URL)
    with running(app, tenant_headers(TENANT_ID)) as client:
        product = create(client)
        client.get(f"{BASE}/{product['id']}")

        other = client.get(f"{BASE}/{product['id']}", headers=tenant_headers("tenant-b"))

    assert other.status_code == 404
    for key in cache_keys(shared_redis, app):
        shared_redis.delete(key)


@pytest.mark.anyio
async def test_concurrent_misses_load_once() -> None:
    cache = CacheAside(InProcessCacheStore(), namespace="svc", ttl_seconds=60)
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return "value"

    def read() -> Any:
        return cache.get_or_load("k", load, encode=str.encode, decode=bytes.decode)

    results = await asyncio.gather(*(read() for _ in range(20)))

    assert results == ["value"] * 20
    assert loads == 1
    assert await read() == "value"
    assert loads == 1


@pytest.mark.anyio
async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache = CacheAside(InProcessCacheStore(), namespace="svc", ttl_seconds=60)

    async def failing() -> str:
        await asyncio.sleep(0.01)
        raise LookupError("database down")

    def read() -> Any:
        return cache.get_or_load("k", failing, encode=str.encode, decode=bytes.decode)

    outcomes = await asyncio.gather(read(), read(), return_exceptions=True)

    assert [type(outcome) for outcome in outcomes] == [LookupError, LookupError]
    assert await cache.store.get("k") is None


@pytest.mark.anyio
async def test_in_process_store_expires_and_evicts() -> None:
    now = [0.0]
    store = InProcessCacheStore(max_entries=2, clock=lambda: now[0])
    await store.set("a", b"1", ttl_seconds=10)
    await store.set("b", b"2", ttl_seconds=10)
    assert await store.get("a") == b"1"  # now the most recently used

    await store.set("c", b"3", ttl_seconds=10)
    now[0] = 9.9

    assert (await store.get("a"), await store.get("b"), await store.get("c")) == (b"1", None, b"3")
    now[0] = 10.0
    assert await store.get("a") is None


def test_local_without_redis_caches_in_process(app: FastAPI, tenant_headers: TenantHeaders) -> None:
    with running(app, tenant_headers(TENANT_ID)) as client:
        product = create(client)
        read = client.get(f"{BASE}/{product['id']}").json()

    assert read == product

    assert isinstance(services_of(app).cache.store, InProcessCacheStore)
{% if values.sqlDatabase %}


def test_a_read_served_from_the_cache_takes_no_database_connection(
    app: FastAPI, tenant_headers: TenantHeaders
) -> None:
    taken: list[str] = []

    def taken_by_a_request(*_: object) -> None:
        task = asyncio.current_task()
{% if values.events == 'redis-streams' %}
        # Not the outbox relay's: it takes connections on its own schedule.
        if task is not None and task.get_name() == RELAY_TASK_NAME:
            return
{% endif %}
        taken.append(repr(task))

    with running(app, tenant_headers(TENANT_ID)) as client:
        product = create(client)
        event.listen(services_of(app).database.writer.sync_engine, "checkout", taken_by_a_request)
        assert client.get(f"{BASE}/{product['id']}").json() == product  # loaded: a miss
        assert len(taken) == 1
        assert client.get(f"{BASE}/{product['id']}").json() == product  # from the cache
        assert len(taken) == 1
{% endif %}


def test_redis_down_means_bypass(
    cached_app_factory: AppFactory, tenant_headers: TenantHeaders
) -> None:
    app = cached_app_factory(f"redis://127.0.0.1:{free_port()}/0")
    with running(app, tenant_headers(TENANT_ID)) as client:
        product = create(client)
        reads = [client.get(f"{BASE}/{product['id']}") for _ in range(5)]
        ready = client.get("/health/ready")

        assert [read.status_code for read in reads] == [200] * 5
        assert bypasses(client) >= 5
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["redis"]["status"] == "failed"


def read_steadily(client: TestClient, url: str, seconds: float) -> list[tuple[int, float]]:
    """(status, duration) of back-to-back reads for ``seconds``."""
    results = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        status = client.get(url).status_code
        results.append((status, time.monotonic() - started))
    return results


def wait_until_cached(redis: Redis, client: TestClient, url: str, timeout: float = 10) -> None:
    """Read until the entry is back in Redis: caching resumed without a restart."""
    deadline = time.monotonic() + timeout
    while not redis.keys(f"*:{SCHEMA_VERSION}:*"):
        assert time.monotonic() < deadline, "caching did not resume"
        assert client.get(url).status_code == 200
        time.sleep(0.05)


@pytest.mark.redis
def test_stopped_and_paused_redis_fail_no_request(
    cached_app_factory: AppFactory, private_redis: PrivateRedis, tenant_headers: TenantHeaders
) -> None:
    app = cached_app_factory(private_redis.url, cache_retry_after_seconds=0.2)
    redis = Redis.from_url(private_redis.url, socket_timeout=2)
    with running(app, tenant_headers(TENANT_ID)) as client:
        url = f"{BASE}/{create(client)['id']}"
        results = read_steadily(client, url, 0.5)
        wait_until_cached(redis, client, url)

        private_redis.stop()
        results += read_steadily(client, url, 1.5)
        private_redis.start()
        wait_until_cached(redis, client, url)

        private_redis.pause()
        results += read_steadily(client, url, 1.5)
        private_redis.resume()
        redis.flushdb()
        wait_until_cached(redis, client, url)
        stalled_bypasses = bypasses(client)

    assert {status for status, _ in results} == {200}
    # Socket timeouts are 100 ms with one retry: a sick cache never stalls a read for long.
    assert max(duration for _, duration in results) < 1.0
    assert stalled_bypasses > 0
