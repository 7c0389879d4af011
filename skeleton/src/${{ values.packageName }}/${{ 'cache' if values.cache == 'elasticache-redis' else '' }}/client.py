"""The cache of the app, opened and closed with it."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis

from ..core.circuit_breaker import CircuitBreaker
from ..core.config import Settings
from ..core.health import HealthRegistry
from ..core.metrics import HttpMetrics
from ..core.rate_limit import RateLimiter
from ..core.redis import create_redis
from .aside import CacheAside
from .store import CacheStore, InProcessCacheStore, RedisCacheStore

logger = structlog.stdlib.get_logger(__name__)


def _pinger(client: Redis) -> Callable[[], Awaitable[None]]:
    async def ping() -> None:
        await client.ping()

    return ping


@asynccontextmanager
async def cache_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep the ``CacheAside`` in ``app.state.cache`` while the app runs, and with Redis
    the rate limiter's counters there. Redis is a non-critical readiness check: without it
    the service is slower, not down. Locally without a URL the cache lives in process."""
    settings: Settings = app.state.settings
    health: HealthRegistry = app.state.health
    metrics: HttpMetrics = app.state.metrics
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
        # Rate-limit counters in Redis too, so that every replica counts every request.
        app.state.rate_limiter = RateLimiter.from_settings(settings, store)
    app.state.cache = CacheAside(
        store, namespace=settings.service_name, ttl_seconds=settings.cache_ttl_seconds
    )
    try:
        yield
    finally:
        if client is not None:
            health.unregister("redis")
            await client.aclose()


async def get_cache(request: Request) -> CacheAside:
    """FastAPI dependency: the app's cache."""
    cache: CacheAside = request.app.state.cache
    return cache


CacheDep = Annotated[CacheAside, Depends(get_cache)]
