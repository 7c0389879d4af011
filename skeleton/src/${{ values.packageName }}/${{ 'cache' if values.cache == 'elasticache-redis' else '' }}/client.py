"""The cache of the app, opened and closed with it."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from redis.asyncio import Redis

from ..core.circuit_breaker import CircuitBreaker
from ..core.config import Settings
from ..core.health import HealthRegistry
from ..core.metrics import ServiceMetrics
from ..core.redis import create_redis
from .aside import CacheAside
from .store import CacheStore, InProcessCacheStore, RedisCacheStore

logger = structlog.get_logger(__name__)


def _pinger(client: Redis) -> Callable[[], Awaitable[None]]:
    async def ping() -> None:
        await client.ping()

    return ping


@asynccontextmanager
async def cache_lifespan(
    settings: Settings, health: HealthRegistry, metrics: ServiceMetrics
) -> AsyncIterator[CacheAside]:
    """The cache while the app runs. Redis is a non-critical readiness check: without it
    the service is slower, not down. Locally without a URL the cache lives in process."""
    store: CacheStore
    client: Redis | None = None
    if settings.redis_url is None:
        logger.info("no Redis configured: caching in process")
        store = InProcessCacheStore()
    else:
        # Short timeouts: a slow cache must cost a request milliseconds, not seconds.
        client = create_redis(
            settings.redis_url.get_secret_value(),
            connect_timeout_seconds=settings.redis_connect_timeout_seconds,
            timeout_seconds=settings.redis_socket_timeout_seconds,
            max_connections=settings.redis_max_connections,
        )
        breaker = CircuitBreaker(
            "redis",
            failure_threshold=settings.cache_failure_threshold,
            reset_seconds=settings.cache_retry_after_seconds,
        )
        store = RedisCacheStore(client, breaker, metrics)
        health.register("redis", _pinger(client), critical=False, timeout_seconds=0.5)
    try:
        yield CacheAside(
            store, namespace=settings.service_name, ttl_seconds=settings.cache_ttl_seconds
        )
    finally:
        if client is not None:
            health.unregister("redis")
            await client.aclose()
