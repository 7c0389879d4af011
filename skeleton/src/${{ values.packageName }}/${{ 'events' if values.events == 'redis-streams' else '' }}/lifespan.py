"""The event stream of the app (and of the consumer), opened and closed with it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from redis.asyncio import Redis

from ..core.config import Settings
from ..core.health import HealthRegistry
from ..core.metrics import ServiceMetrics
from ..core.redis import connection_options
from .local import InProcessEventStream
from .metrics import EventMetrics
from .stream import MAX_BLOCK_SECONDS, EventStream, RedisEventStream

logger = structlog.get_logger(__name__)


@asynccontextmanager
async def events_lifespan(
    settings: Settings, health: HealthRegistry, metrics: ServiceMetrics
) -> AsyncIterator[EventStream]:
    """Redis is a non-critical readiness check: without it the service still serves and
    its events wait (or, without a database, are lost: see the docs). No connection is
    opened here, so a Redis outage does not stop the app from starting."""
    event_metrics = EventMetrics.of(metrics)
    if settings.events_redis_url is None:
        logger.info("no events Redis configured: events stay in this process")
        yield InProcessEventStream(
            max_length=settings.events_stream_max_length, metrics=event_metrics
        )
        return
    timeout = settings.events_redis_timeout_seconds
    # Annotated: redis-py types from_url as Any. The socket timeout covers the longest
    # blocking read; each call is bounded by its own, shorter timeout (events.stream).
    client: Redis = Redis.from_url(
        settings.events_redis_url.get_secret_value(),
        decode_responses=True,
        **connection_options(timeout, timeout + MAX_BLOCK_SECONDS),
    )

    async def check() -> None:
        await client.ping()

    health.register("events", check, critical=False)
    try:
        yield RedisEventStream(
            client,
            settings.events_stream,
            max_length=settings.events_stream_max_length,
            timeout_seconds=timeout,
            metrics=event_metrics,
        )
    finally:
        health.unregister("events")
        await client.aclose()
