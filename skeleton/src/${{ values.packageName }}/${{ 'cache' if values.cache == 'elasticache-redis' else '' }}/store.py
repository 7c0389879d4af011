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

logger = structlog.get_logger(__name__)

T = TypeVar("T")

# INCR and, for a new counter, EXPIRE in one atomic command: no counter outlives its window
# even if the client dies between the two steps.
INCREMENT_WITH_TTL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
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
    so a dead or paused Redis costs a request at most its short socket timeout."""

    def __init__(self, client: Redis, breaker: CircuitBreaker, metrics: ServiceMetrics) -> None:
        self._client = client
        self._increment = client.register_script(INCREMENT_WITH_TTL)
        self._breaker = breaker
        self.bypasses = metrics.counter(
            "cache_bypass",
            "Cache operations skipped or failed because the cache was unavailable.",
            ("operation",),
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

    async def increment(self, key: str, ttl_seconds: int) -> int | None:
        """A rate-limit counter (``core/rate_limit.py``); None when Redis is unavailable."""
        count = await self._guarded(
            "rate_limit", lambda: self._increment(keys=[key], args=[ttl_seconds])
        )
        return None if count is None else int(count)

    async def _guarded(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        try:
            await self._breaker.before_call()
        except CircuitOpenError:
            self.bypasses.labels(operation=operation).inc()
            return None
        try:
            result = await call()
        except (RedisError, OSError) as error:
            self.bypasses.labels(operation=operation).inc()
            await self._breaker.record_failure()
            logger.warning("cache bypassed", operation=operation, error=type(error).__name__)
            return None
        await self._breaker.record_success()
        return result
