"""The consumer process and the operations on its stream (``python -m
${{ values.packageName }}.events``): consume, list and re-drive dead letters, replay a range.
The parts are opened here, as ``bootstrap`` opens the API's."""

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import structlog
from prometheus_client import start_http_server
from redis.asyncio import Redis

from ..core.config import Settings
from ..core.health import HealthRegistry
from ..core.metrics import ServiceMetrics
from ..core.redis import connection_options
from ..products.event_handlers import ProductEventHandlers
from ..products.event_payloads import PRODUCT_EVENTS
from ..products.event_projection import InMemoryProductProjection, RedisProductProjection
{% if values.taskQueue != 'none' %}
from ..worker.publisher import product_events_lifespan
{% endif %}
from .consumer import ConsumerOptions, EventConsumer, event_context
from .envelope import EventEnvelope, MalformedEventError
from .handlers import EventHandlers
from .lifespan import events_lifespan
from .local import InProcessEventStream
from .metrics import EventMetrics
from .registry import InvalidEventError, UnknownEventError
from .stream import EventStream

logger = structlog.get_logger(__name__)

# Entries read per call while replaying.
REPLAY_PAGE = 100


@dataclass(frozen=True, slots=True)
class ConsumerParts:
    stream: EventStream
    handlers: EventHandlers


@asynccontextmanager
async def consumer_parts(
    settings: Settings, metrics: ServiceMetrics
) -> AsyncIterator[ConsumerParts]:
    """The stream, the projection's Redis (the stream's server){% if values.taskQueue != 'none' %}, the task queue{% endif %} and the
    handlers over them; ``settings.events_redis_url`` must be set."""
    assert settings.events_redis_url is not None, "checked by the command line"
    # Not reported anywhere: the consumer's probes are files (events.probes).
    health = HealthRegistry()
    async with AsyncExitStack() as stack:
        stream = await stack.enter_async_context(events_lifespan(settings, health, metrics))
        timeout = settings.events_redis_timeout_seconds
        # Annotated: redis-py types from_url as Any.
        redis: Redis = Redis.from_url(
            settings.events_redis_url.get_secret_value(),
            decode_responses=True,
            **connection_options(timeout, timeout),
        )
        stack.push_async_callback(redis.aclose)
        projection = RedisProductProjection(redis, settings.events_stream)
{% if values.taskQueue != 'none' %}
        notifications = await stack.enter_async_context(
            product_events_lifespan(settings, health, metrics)
        )
        handlers = ProductEventHandlers(projection, notifications).by_type()
{% else %}
        handlers = ProductEventHandlers(projection).by_type()
{% endif %}
        yield ConsumerParts(stream, handlers)


def group_consumer(
    settings: Settings,
    parts: ConsumerParts,
    metrics: ServiceMetrics,
    name: str,
    *,
    probe_files: bool = True,
) -> EventConsumer:
    return EventConsumer(
        parts.stream,
        PRODUCT_EVENTS,
        parts.handlers,
        EventMetrics.of(metrics),
        ConsumerOptions(
            group=settings.events_consumer_group,
            name=name,
            claim_idle_seconds=settings.events_claim_idle_seconds,
            max_deliveries=settings.events_max_deliveries,
            probe_files=probe_files,
        ),
    )


@asynccontextmanager
async def in_process_consumer(
    settings: Settings,
    stream: InProcessEventStream,
    health: HealthRegistry,
    metrics: ServiceMetrics,
) -> AsyncIterator[None]:
    """Local work without Redis: the consumer runs in the API's event loop on its in-process
    stream, with the projection in memory{% if values.taskQueue != 'none' %} and the notification task queued as the API
    would queue it{% endif %}. It stops with the API, after the events in hand."""
    async with AsyncExitStack() as stack:
{% if values.taskQueue != 'none' %}
        notifications = await stack.enter_async_context(
            product_events_lifespan(settings, health, metrics)
        )
        handlers = ProductEventHandlers(InMemoryProductProjection(), notifications).by_type()
{% else %}
        handlers = ProductEventHandlers(InMemoryProductProjection()).by_type()
{% endif %}
        consumer = group_consumer(
            settings, ConsumerParts(stream, handlers), metrics, "in-process", probe_files=False
        )
        stopping = asyncio.Event()
        running = asyncio.create_task(consumer.run(stopping))

        async def stop() -> None:
            stopping.set()
            stream.end_blocked_reads()  # the API stops without waiting out a read's block
            await running

        stack.push_async_callback(stop)
        yield


async def run_until_signalled(consumer: EventConsumer) -> None:
    """Until SIGTERM (Kubernetes stopping the pod) or SIGINT; the events in hand are finished
    first."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    await consumer.run(stopping)


async def consume(settings: Settings, consumer_name: str, metrics_port: int) -> None:
    """The consumer process; Prometheus metrics are served on ``metrics_port``."""
    metrics = ServiceMetrics()
    server, thread = start_http_server(metrics_port, registry=metrics.registry)
    try:
        async with consumer_parts(settings, metrics) as parts:
            logger.info(
                "event consumer started",
                group=settings.events_consumer_group,
                consumer=consumer_name,
                metrics_port=server.server_port,
            )
            await run_until_signalled(group_consumer(settings, parts, metrics, consumer_name))
    finally:
        server.shutdown()
        thread.join()
        logger.info("event consumer stopped", consumer=consumer_name)


@dataclass(frozen=True, slots=True)
class RedriveResult:
    redriven: list[str]
    # Dead-letter ID and why it stays.
    kept: list[tuple[str, str]]


async def redrive(stream: EventStream, only_id: str | None, count: int) -> RedriveResult:
    """Appends dead letters (the oldest ``count``, or the one ``only_id``) to the event
    stream again as they were, for the consumers to handle with the code they run now, and
    deletes them. A malformed entry has no envelope to append: it stays."""
    redriven: list[str] = []
    kept: list[tuple[str, str]] = []
    for dead_letter in await stream.dead_letters(count):
        if only_id is not None and dead_letter.id != only_id:
            continue
        try:
            envelope = EventEnvelope.from_fields(dead_letter.fields)
        except MalformedEventError as error:
            kept.append((dead_letter.id, f"malformed, cannot be re-driven: {error}"))
            continue
        await stream.append(envelope)
        await stream.delete_dead_letter(dead_letter.id)
        redriven.append(dead_letter.id)
    if only_id is not None and not redriven and not kept:
        kept.append((only_id, "no such dead letter"))
    return RedriveResult(redriven, kept)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    applied: int = 0
    # Applied before: the handlers changed nothing.
    unchanged: int = 0
    # Entries of the type that could not be decoded or whose handler failed.
    failed: int = 0


def stream_id(moment: datetime) -> str:
    """The first stream ID at or after ``moment`` (IDs start with Unix milliseconds)."""
    return str(int(moment.timestamp() * 1000))


def _after(entry_id: str) -> str:
    milliseconds, sequence = entry_id.split("-")
    return f"{milliseconds}-{int(sequence) + 1}"


async def replay(
    parts: ConsumerParts,
    event_type: str,
    since: datetime | None,
    until: datetime | None,
    max_events: int | None,
) -> ReplayResult:
    """Runs the handlers again over the events of ``event_type`` appended from ``since`` to
    ``until`` (inclusive; open ends: the whole retained stream), at most ``max_events`` of
    them, oldest first. Events already applied change nothing."""
    handler = parts.handlers.get(event_type)
    if handler is None:
        raise ValueError(f"no handler for event type {event_type!r}")
    start = stream_id(since) if since is not None else "-"
    end = stream_id(until) if until is not None else "+"
    applied = unchanged = failed = seen = 0
    while max_events is None or seen < max_events:
        entries = await parts.stream.range(start, end, REPLAY_PAGE)
        if not entries:
            break
        start = _after(entries[-1].id)
        for entry in entries:
            if entry.fields.get("type") != event_type:
                continue
            if max_events is not None and seen >= max_events:
                break
            seen += 1
            try:
                envelope = EventEnvelope.from_fields(entry.fields)
                with event_context(envelope):
                    event = PRODUCT_EVENTS.decode(envelope)
                    if await handler(envelope, event):
                        applied += 1
                    else:
                        unchanged += 1
            except (MalformedEventError, UnknownEventError, InvalidEventError) as error:
                failed += 1
                logger.error("event not replayed", entry_id=entry.id, error=str(error))
            except Exception:
                failed += 1
                logger.exception("event handler failed during replay", entry_id=entry.id)
    return ReplayResult(applied, unchanged, failed)
