"""The composition root: ``bootstrap`` builds every part of the service once, in the
lifespan, and closes them in reverse order on shutdown. Each part that can fail registers
its readiness check in ``health``."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

{% if values.auth == 'jwt' %}
from .auth.verifier import create_token_verifier
{% endif %}
{% if values.cache == 'elasticache-redis' %}
from .cache.client import cache_lifespan
from .cache.rate_limit_leases import LeasedWindowCounter
from .cache.store import RedisCacheStore
{% endif %}
from .core.config import Settings
from .core.health import HealthRegistry
from .core.http_client import create_http_client, create_resilient_client
from .core.metrics import ServiceMetrics
from .core.rate_limit import InProcessWindowCounter, RateLimiter${{ ', WindowCounter' if values.cache == 'elasticache-redis' else '' }}
{% if values.sqlDatabase %}
from .db.lifespan import database_lifespan
{% endif %}
from .deps import Services
{% if values.database == 'dynamodb' %}
from .dynamodb.client import dynamodb_lifespan
{% endif %}
{% if values.events == 'redis-streams' %}
from .events.lifespan import events_lifespan
from .events.local import InProcessEventStream
{% endif %}
{% if values.events == 'redis-streams' and values.database == 'dynamodb' %}
from .events.outbox_dynamodb import DynamoDbOutbox
{% endif %}
{% if values.events == 'redis-streams' and values.sqlDatabase %}
from .events.outbox_sql import sql_outbox_lifespan
{% endif %}
{% if values.events == 'redis-streams' and values.database != 'none' %}
from .events.relay import relay_lifespan
{% endif %}
{% if values.events == 'redis-streams' %}
from .events.runner import in_process_consumer
from .events.sse import open_event_streams_lifespan
{% endif %}
{% if values.database == 'none' %}
from .products.memory import InMemoryProductRepository, check_single_process
{% endif %}
{% if values.apiQueuesNotifications %}
from .worker.publisher import product_events_lifespan
{% endif %}


@asynccontextmanager
async def bootstrap(
    settings: Settings, metrics: ServiceMetrics, health: HealthRegistry
) -> AsyncIterator[Services]:
    """The parts, open until the block ends. ``metrics`` and ``health`` come from
    ``create_app``: the middleware and the probes need them before startup."""
    async with AsyncExitStack() as stack:
        http_client = await stack.enter_async_context(create_http_client(settings))
{% if values.sqlDatabase %}
        database = await stack.enter_async_context(database_lifespan(settings, health))
{% elif values.database == 'dynamodb' %}
        dynamodb_table = await stack.enter_async_context(dynamodb_lifespan(settings, health))
{% if values.events == 'redis-streams' %}
        # The repositories write events into it; the relay sends them on.
        event_outbox = DynamoDbOutbox(dynamodb_table, settings.events_relay_batch_size)
{% endif %}
{% else %}
        check_single_process()
{% endif %}
{% if values.cache == 'elasticache-redis' %}
        cache = await stack.enter_async_context(cache_lifespan(settings, health, metrics))
        # With Redis, the replicas share each client's budget, leased from Redis a slice at
        # a time. Otherwise the counters are per process.
        counter: WindowCounter = (
            LeasedWindowCounter(
                cache.store, max_lease_requests=settings.rate_limit_max_lease_requests
            )
            if isinstance(cache.store, RedisCacheStore)
            else InProcessWindowCounter()
        )
{% endif %}
{% if values.events == 'redis-streams' %}
        event_stream = await stack.enter_async_context(events_lifespan(settings, health, metrics))
        # Entered after the stream, so on shutdown the open event streams end before it closes.
        open_event_streams = await stack.enter_async_context(open_event_streams_lifespan(settings))
        if isinstance(event_stream, InProcessEventStream):
            # Local work without Redis: nothing outside this process sees its events, so
            # the consumer runs here.
            await stack.enter_async_context(
                in_process_consumer(settings, event_stream, health, metrics)
            )
{% endif %}
{% if values.events == 'redis-streams' and values.sqlDatabase %}
        # Every replica relays committed events from the outbox to the stream.
        outbox = await stack.enter_async_context(
            sql_outbox_lifespan(settings, database.writer, settings.events_relay_batch_size)
        )
        await stack.enter_async_context(relay_lifespan(outbox, event_stream, settings, metrics))
{% elif values.events == 'redis-streams' and values.database == 'dynamodb' %}
        # Every replica relays committed events from the outbox to the stream.
        await stack.enter_async_context(
            relay_lifespan(event_outbox, event_stream, settings, metrics)
        )
{% endif %}
{% if values.apiQueuesNotifications %}
        product_events = await stack.enter_async_context(
            product_events_lifespan(settings, health, metrics)
        )
{% endif %}
        yield Services(
            settings=settings,
            metrics=metrics,
            health=health,
            http_client=create_resilient_client(settings, http_client),
{% if values.cache == 'elasticache-redis' %}
            rate_limiter=RateLimiter.from_settings(settings, counter),
{% else %}
            # Per process: the service has no shared store for the counters.
            rate_limiter=RateLimiter.from_settings(settings, InProcessWindowCounter()),
{% endif %}
{% if values.auth == 'jwt' %}
            token_verifier=create_token_verifier(settings, http_client),
{% endif %}
{% if values.sqlDatabase %}
            database=database,
{% elif values.database == 'dynamodb' %}
            dynamodb_table=dynamodb_table,
{% if values.events == 'redis-streams' %}
            event_outbox=event_outbox,
{% endif %}
{% else %}
            product_repository=InMemoryProductRepository(${{ 'event_stream' if values.events == 'redis-streams' else '' }}),
{% endif %}
{% if values.cache == 'elasticache-redis' %}
            cache=cache,
{% endif %}
{% if values.apiQueuesNotifications %}
            product_events=product_events,
{% endif %}
{% if values.events == 'redis-streams' %}
            event_stream=event_stream,
            open_event_streams=open_event_streams,
{% endif %}
        )
