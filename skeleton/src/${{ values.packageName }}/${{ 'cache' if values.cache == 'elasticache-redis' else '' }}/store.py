"""Cache stores: Redis, and an in-process stand-in for local work. Both store bytes with a
time to live and never raise on the read path."""

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..core.circuit_breaker import CircuitBreaker, CircuitOpenError
from ..core.metrics import ServiceMetrics
from ..core.redis import PoolTimeoutError

logger = structlog.get_logger(__name__)

T = TypeVar("T")

# A lease of up to ARGV[1] requests out of a window's budget of ARGV[2], in one atomic
# script: the key counts the requests leased so far, never past the budget, and a new key
# gets its TTL in the same step, so no counter outlives its window even if the client dies.
TAKE_LEASE = """
local leased = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - leased)
if granted <= 0 then
    return 0
end
redis.call('INCRBY', KEYS[1], granted)
if leased == 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return granted
"""


class CacheStore(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value, or None on a miss (including when the store cannot be reached)."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...

    async def delete(self, *keys: str) -> None: ...


class InProcessCacheStore:
    """The local stand-in for Redis: bounded, least recently used entries go first."""

    def __init__(
        self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._entries[key] = (self._clock() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)


class RedisCacheStore:
    """Redis behind a circuit breaker: errors and timeouts count as misses (bypasses), and
    after repeated failures Redis is not even tried until the breaker lets a trial through,
    so a dead or paused Redis costs a request at most its short socket timeout. A command
    that waited in vain for a connection of the pool is a miss too, but not a failure: the
    process is busy, Redis is not failing, so the breaker does not count it."""

    def __init__(self, client: Redis, breaker: CircuitBreaker, metrics: ServiceMetrics) -> None:
        self._client = client
        self._take_lease = client.register_script(TAKE_LEASE)
        self._breaker = breaker
        self.bypasses = metrics.counter(
            "cache_bypass",
            "Cache operations that failed or did not reach Redis, by reason: Redis failed or "
            "timed out (error), the circuit breaker skipped it (circuit_open), or no "
            "connection of the process's pool came free in time (pool_timeout).",
            ("operation", "reason"),
        )

    async def get(self, key: str) -> bytes | None:
        value = await self._guarded("get", lambda: self._client.get(key))
        # The client does not decode responses, so a hit is bytes.
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._guarded("set", lambda: self._client.set(key, value, ex=ttl_seconds))

    async def delete(self, *keys: str) -> None:
        """Best effort: if Redis is unavailable the entries expire after their TTL."""
        await self._guarded("delete", lambda: self._client.delete(*keys))

    async def take_lease(
        self, key: str, requests: int, budget: int, ttl_seconds: int
    ) -> int | None:
        """Up to ``requests`` of the rate-limit window ``key``'s ``budget``
        (``cache/rate_limit_leases.py``): 0 once it is spent, None when Redis is
        unavailable."""
        granted = await self._guarded(
            "rate_limit",
            lambda: self._take_lease(keys=[key], args=[requests, budget, ttl_seconds]),
        )
        return None if granted is None else int(granted)

    async def _guarded(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        try:
            await self._breaker.before_call()
        except CircuitOpenError:
            self.bypasses.labels(operation=operation, reason="circuit_open").inc()
            return None
        try:
            result = await call()
        except PoolTimeoutError:
            # Counted, not logged: under load this happens to many requests at once.
            self.bypasses.labels(operation=operation, reason="pool_timeout").inc()
            await self._breaker.record_not_reached()
            return None
        except (RedisError, OSError) as error:
            self.bypasses.labels(operation=operation, reason="error").inc()
            await self._breaker.record_failure()
            logger.warning("cache bypassed", operation=operation, error=type(error).__name__)
            return None
        await self._breaker.record_success()
        return result
