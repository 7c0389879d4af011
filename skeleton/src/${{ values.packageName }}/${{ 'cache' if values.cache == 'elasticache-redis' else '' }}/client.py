"""The Redis client, opened and closed with the app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from redis.asyncio import Redis

from ..core.config import Settings
from ..core.errors import ServiceUnavailable
from ..core.health import HealthRegistry

logger = structlog.stdlib.get_logger(__name__)


@asynccontextmanager
async def redis_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep a pooled client in ``app.state.redis`` while the app runs and register its
    readiness check (non-critical: without the cache the service is slower, not down).
    Without a URL (local only) there is no client."""
    settings: Settings = app.state.settings
    health: HealthRegistry = app.state.health
    if settings.redis_url is None:
        logger.info("no Redis configured: running without the cache")
        app.state.redis = None
        yield
        return
    client = Redis.from_url(settings.redis_url.get_secret_value(), decode_responses=True)
    app.state.redis = client

    async def check() -> None:
        await client.ping()

    health.register("redis", check, critical=False)
    try:
        yield
    finally:
        health.unregister("redis")
        await client.aclose()


def get_redis(request: Request) -> Redis:
    """FastAPI dependency: the shared Redis client."""
    client: Redis | None = request.app.state.redis
    if client is None:
        raise ServiceUnavailable("No cache is configured.")
    return client
