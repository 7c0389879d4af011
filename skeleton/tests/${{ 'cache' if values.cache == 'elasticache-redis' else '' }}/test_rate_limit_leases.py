"""The rate limit that replicas share through leases of each client's budget in Redis
(``cache/rate_limit_leases.py``): the lease logic on a fake clock and an in-process budget,
then, on real Redis (marked ``redis``), replicas in one process and in separate processes,
the Redis commands a request costs, and a stopped and a paused Redis."""

import asyncio
import os
import subprocess
import sys
import textwrap
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
from redis.asyncio import Redis as AsyncRedis
from starlette.exceptions import HTTPException
from test_cache import BASE, SHARED_REDIS_URL, TENANT_ID, AppFactory, running

from conftest import PrivateRedis
from ${{ values.packageName }}.cache.rate_limit_leases import LeasedWindowCounter
from ${{ values.packageName }}.cache.store import RedisCacheStore
from ${{ values.packageName }}.core.circuit_breaker import CircuitBreaker
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.metrics import ServiceMetrics
from ${{ values.packageName }}.core.rate_limit import RateLimiter
from ${{ values.packageName }}.core.redis import create_redis
from ${{ values.packageName }}.main import create_app

TenantHeaders = Callable[[str], dict[str, str]]


@pytest.fixture
def limited_app_factory(make_settings: Callable[..., Settings]) -> AppFactory:
    """Apps limited in the Redis at ``url``, each a service of its own."""

    def build(url: str, **overrides: Any) -> FastAPI:
        return create_app(
            make_settings(
                redis_url=SecretStr(url), service_name=f"test-{uuid4().hex[:12]}", **overrides
            )
        )

    return build


class Budgets:
    """An in-process stand-in for the lease script: each key's budget, the lease sizes
    asked, and how many requests were in flight at once."""

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.leased: dict[str, int] = {}
        self.asked: list[int] = []
        self.reachable = True
        self.most_in_flight = 0
        self._in_flight = 0
        self._delay_seconds = delay_seconds

    async def take_lease(
        self, key: str, requests: int, budget: int, ttl_seconds: int
    ) -> int | None:
        self.asked.append(requests)
        self._in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            await asyncio.sleep(self._delay_seconds)
        finally:
            self._in_flight -= 1
        if not self.reachable:
            return None
        granted = max(0, min(requests, budget - self.leased.get(key, 0)))
        self.leased[key] = self.leased.get(key, 0) + granted
        return granted


@pytest.mark.anyio
async def test_leases_double_up_to_the_maximum_and_stop_at_the_budget() -> None:
    budgets = Budgets()
    counter = LeasedWindowCounter(budgets, max_lease_requests=4)

    admitted = [await counter.admit("k", 20, 60) for _ in range(20)]
    assert admitted == [True] * 20
    # One ask per lease, none while it lasts; the last one got less than asked (the budget
    # is spent), so further requests are refused without asking again.
    assert budgets.asked == [1, 2, 4, 4, 4, 4, 4]
    assert [await counter.admit("k", 20, 60) for _ in range(3)] == [False] * 3
    assert budgets.asked == [1, 2, 4, 4, 4, 4, 4]
    assert budgets.leased == {"k": 20}


@pytest.mark.anyio
async def test_each_window_has_its_own_budget_and_leases() -> None:
    now = [1_000.0]
    budgets = Budgets()
    limiter = RateLimiter(
        LeasedWindowCounter(budgets, max_lease_requests=4),
        requests=3,
        window_seconds=10,
        namespace="t",
        clock=lambda: now[0],
    )
    for _ in range(3):
        await limiter.check("a")
    now[0] = 1_006.5
    with pytest.raises(HTTPException) as refused:
        await limiter.check("a")
    now[0] = 1_010.0  # the next window
    await limiter.check("a")

    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "4"}
    assert budgets.leased == {"rate-limit:t:a:100": 3, "rate-limit:t:a:101": 1}
    # The refused request asked for 4 and got none; the new window starts again at 1.
    assert budgets.asked == [1, 2, 4, 1]


@pytest.mark.anyio
async def test_concurrent_requests_of_a_client_ask_for_one_lease_at_a_time() -> None:
    budgets = Budgets(delay_seconds=0.01)
    counter = LeasedWindowCounter(budgets, max_lease_requests=8)

    admitted = await asyncio.gather(*(counter.admit("k", 100, 60) for _ in range(50)))

    assert admitted == [True] * 50
    assert budgets.most_in_flight == 1
    assert budgets.asked == [1, 2, 4, 8, 8, 8, 8, 8, 8]


@pytest.mark.anyio
async def test_without_redis_a_replica_counts_the_window_alone() -> None:
    budgets = Budgets(delay_seconds=0.01)
    counter = LeasedWindowCounter(budgets, max_lease_requests=8)
    assert await counter.admit("k", 4, 60)  # leased
    budgets.reachable = False

    # Concurrent requests share the one failed ask, then count in process, the leased
    # request included.
    admitted = await asyncio.gather(*(counter.admit("k", 4, 60) for _ in range(5)))

    assert admitted == [True, True, True, False, False]
    assert budgets.asked == [1, 2]


@pytest.mark.anyio
async def test_leases_in_process_are_bounded() -> None:
    now = [0.0]
    budgets = Budgets()
    counter = LeasedWindowCounter(budgets, max_lease_requests=8, max_keys=2, clock=lambda: now[0])
    # "c" pushes out the least recently seen client, "b"; "a" still holds one of its lease
    # of 2, and "b" starts again at 1.
    for key in ("a", "b", "a", "c", "a", "b"):
        await counter.admit(key, 100, 10)
    assert budgets.asked == [1, 1, 2, 1, 1]
    now[0] = 10.0  # every lease expired: a known client starts again at one request
    await counter.admit("a", 100, 10)
    assert budgets.asked == [1, 1, 2, 1, 1, 1]


def replica(url: str, max_lease_requests: int) -> tuple[LeasedWindowCounter, AsyncRedis]:
    """A replica's limiter counter with a Redis client of its own (and the client, for
    closing). Timeouts of a second: the shared server is busy with other tests."""
    client = create_redis(url, connect_timeout_seconds=1.0, timeout_seconds=1.0)
    breaker = CircuitBreaker("redis", failure_threshold=3, reset_seconds=0.2)
    store = RedisCacheStore(client, breaker, ServiceMetrics())
    return LeasedWindowCounter(store, max_lease_requests=max_lease_requests), client


def delete_keys(pattern: str) -> None:
    redis = Redis.from_url(SHARED_REDIS_URL, socket_timeout=2)
    for key in redis.scan_iter(match=pattern):
        redis.delete(key)
    redis.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_replicas_admit_at_most_the_limit_together_in_each_window() -> None:
    namespace = f"test-{uuid4().hex[:12]}"
    limit, max_lease, replicas = 100, 8, 4
    now = [3_000.0]
    built = [replica(SHARED_REDIS_URL, max_lease) for _ in range(replicas)]
    limiters = [
        RateLimiter(
            counter, requests=limit, window_seconds=60, namespace=namespace, clock=lambda: now[0]
        )
        for counter, _ in built
    ]

    async def attempts(limiter: RateLimiter, count: int) -> int:
        admitted = 0
        for _ in range(count):
            try:
                await limiter.check("client")
                admitted += 1
            except HTTPException:
                pass
            await asyncio.sleep(0)
        return admitted

    admitted_per_window = []
    for window_start in (3_000.0, 3_060.0):
        now[0] = window_start
        per_replica = await asyncio.gather(*(attempts(limiter, 60) for limiter in limiters))
        admitted_per_window.append(sum(per_replica))
    redis = Redis.from_url(SHARED_REDIS_URL, socket_timeout=2)
    # redis-py 5 types a synchronous client's replies as possibly awaitable.
    values: Any = {key: redis.get(key) for key in redis.scan_iter(f"*{namespace}*")}
    leased = {key.decode(): int(value or 0) for key, value in values.items()}
    redis.close()
    for _, client in built:
        await client.aclose()
    delete_keys(f"rate-limit:{namespace}:*")

    # 240 attempts per window: never more than the limit, and short of it by at most what
    # the replicas leased and did not use.
    for admitted in admitted_per_window:
        assert limit - replicas * max_lease <= admitted <= limit
    assert leased == {
        f"rate-limit:{namespace}:client:50": limit,
        f"rate-limit:{namespace}:client:51": limit,
    }


SEPARATE_REPLICA = textwrap.dedent(
    """
    import asyncio, sys

    from ${{ values.packageName }}.cache.rate_limit_leases import LeasedWindowCounter
    from ${{ values.packageName }}.cache.store import RedisCacheStore
    from ${{ values.packageName }}.core.circuit_breaker import CircuitBreaker
    from ${{ values.packageName }}.core.metrics import ServiceMetrics
    from ${{ values.packageName }}.core.redis import create_redis

    async def main(url: str, key: str, limit: int, attempts: int) -> None:
        client = create_redis(url, connect_timeout_seconds=1.0, timeout_seconds=1.0)
        breaker = CircuitBreaker("redis", failure_threshold=3, reset_seconds=0.2)
        store = RedisCacheStore(client, breaker, ServiceMetrics())
        counter = LeasedWindowCounter(store, max_lease_requests=8)
        sys.stdin.readline()  # every process is ready: go
        admitted = 0
        for _ in range(attempts):
            admitted += await counter.admit(key, limit, 60)
            await asyncio.sleep(0.001)
        await client.aclose()
        print(admitted)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    """
)


@pytest.mark.redis
def test_separate_processes_share_the_limit() -> None:
    key = f"rate-limit:test-{uuid4().hex[:12]}:client:1"
    limit, processes = 150, 3
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", SEPARATE_REPLICA, SHARED_REDIS_URL, key, str(limit), "100"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for _ in range(processes)
    ]
    outputs = [process.communicate("go\n", timeout=60)[0] for process in replicas]
    leased = Redis.from_url(SHARED_REDIS_URL, socket_timeout=2).get(key)
    delete_keys(key)

    assert [process.returncode for process in replicas] == [0] * processes
    admitted = [int(output) for output in outputs]
    # 300 attempts against a limit of 150, leases of at most 8.
    assert limit - processes * 8 <= sum(admitted) <= limit
    assert leased == str(limit).encode()


def rate_limit_keys(redis: Redis) -> list[str]:
    return sorted(key.decode() for key in redis.scan_iter(match="rate-limit:*"))


@pytest.mark.redis
def test_replicas_of_a_service_share_the_budget_in_redis(
    make_settings: Callable[..., Settings],
    private_redis: PrivateRedis,
    tenant_headers: TenantHeaders,
) -> None:
    settings = make_settings(
        redis_url=SecretStr(private_redis.url),
        service_name=f"test-{uuid4().hex[:12]}",
        rate_limit_requests=3,
    )
    first, second = create_app(settings), create_app(settings)  # two replicas of one service
    redis = Redis.from_url(private_redis.url, socket_timeout=2)
    with (
        running(first, tenant_headers(TENANT_ID)) as one,
        running(second, tenant_headers(TENANT_ID)) as other,
    ):
        statuses = [client.get(BASE).status_code for client in (one, other, one, other)]
        [key] = rate_limit_keys(redis)
        ttl = redis.ttl(key)
        leased = redis.get(key)

    assert statuses == [200, 200, 200, 429]
    assert key.startswith(f"rate-limit:{settings.service_name}:")
    assert leased == b"3"
    assert isinstance(ttl, int)
    assert 0 < ttl <= 60


def commands_called(redis: Redis) -> dict[str, int]:
    """Calls per command since the server started, but INFO's own."""
    # redis-py 5 types a synchronous client's replies as possibly awaitable.
    stats: Any = redis.info("commandstats")
    return {name: entry["calls"] for name, entry in stats.items() if name != "cmdstat_info"}


@pytest.mark.redis
def test_requests_make_no_redis_command_while_a_lease_lasts(
    limited_app_factory: AppFactory, private_redis: PrivateRedis, tenant_headers: TenantHeaders
) -> None:
    app = limited_app_factory(
        private_redis.url, rate_limit_requests=1000, rate_limit_max_lease_requests=8
    )
    redis = Redis.from_url(private_redis.url, socket_timeout=2)
    with running(app, tenant_headers(TENANT_ID)) as client:
        assert client.get(BASE).status_code == 200  # leases 1
        before = commands_called(redis)
        # Leases of 2, 4, 8 and 8 serve the next 22 requests.
        statuses = {client.get(BASE).status_code for _ in range(22)}
        after = commands_called(redis)

    assert statuses == {200}
    called = {name: after[name] - before.get(name, 0) for name in after}
    # One lease script per lease; the commands it runs inside Redis count too.
    assert {name: calls for name, calls in called.items() if calls} == {
        "cmdstat_evalsha": 4,
        "cmdstat_get": 4,
        "cmdstat_incrby": 4,
    }


@contextmanager
def timed(durations: list[float]) -> Iterator[None]:
    started = time.monotonic()
    yield
    durations.append(time.monotonic() - started)


def statuses_timed(client: TestClient, count: int, durations: list[float]) -> list[int]:
    statuses = []
    for _ in range(count):
        with timed(durations):
            statuses.append(client.get(BASE).status_code)
    return statuses


@pytest.mark.redis
def test_with_redis_stopped_or_paused_each_replica_counts_alone(
    limited_app_factory: AppFactory, private_redis: PrivateRedis, tenant_headers: TenantHeaders
) -> None:
    settings = {"rate_limit_requests": 4, "rate_limit_max_lease_requests": 2}
    headers = tenant_headers(TENANT_ID)
    durations: list[float] = []
    with running(limited_app_factory(private_redis.url, **settings), headers) as client:
        leased = client.get(BASE).status_code
        private_redis.stop()
        while_stopped = statuses_timed(client, 5, durations)
    private_redis.start()
    with running(limited_app_factory(private_redis.url, **settings), headers) as client:
        leased_again = client.get(BASE).status_code
        private_redis.pause()
        while_paused = statuses_timed(client, 5, durations)
        private_redis.resume()

    assert leased == leased_again == 200
    # The leased request counts too: three more, then 429, without failing a request.
    assert while_stopped == while_paused == [200, 200, 200, 429, 429]
    # Redis socket timeouts are 100 ms with one retry, and the breaker then skips Redis.
    assert max(durations) < 1.0


@pytest.mark.redis
@pytest.mark.anyio
async def test_concurrent_requests_wait_for_one_timeout_on_a_paused_redis(
    private_redis: PrivateRedis,
) -> None:
    client = create_redis(private_redis.url, connect_timeout_seconds=0.1, timeout_seconds=0.1)
    breaker = CircuitBreaker("redis", failure_threshold=3, reset_seconds=5)
    metrics = ServiceMetrics()
    counter = LeasedWindowCounter(RedisCacheStore(client, breaker, metrics), max_lease_requests=8)
    assert await counter.admit("k", 10, 60)
    private_redis.pause()
    started = time.monotonic()
    admitted = await asyncio.gather(*(counter.admit("k", 10, 60) for _ in range(30)))
    waited = time.monotonic() - started
    private_redis.resume()
    await client.aclose()

    assert admitted == [True] * 9 + [False] * 21
    # One lease request timed out (100 ms, one retry) for all of them.
    failed = metrics.registry.get_sample_value(
        "cache_bypass_total", {"operation": "rate_limit", "reason": "error"}
    )
    assert failed == 1
    assert waited < 0.5
