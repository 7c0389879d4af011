"""The Redis client, opened and closed with the app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from redis.asyncio import Redis

from ..core.config import Settings


@asynccontextmanager
async def redis_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep a pooled client in ``app.state.redis`` while the app runs."""
    settings: Settings = app.state.settings
    client = Redis.from_url(settings.redis_url.get_secret_value(), decode_responses=True)
    app.state.redis = client
    try:
        yield
    finally:
        await client.aclose()


def get_redis(request: Request) -> Redis:
    """FastAPI dependency: the shared Redis client."""
    client: Redis = request.app.state.redis
    return client
