"""The consumer group loop: read new events, reclaim the ones a dead consumer left pending,
decode each through the registry (upcast to its type's latest version), run its handler, and
acknowledge it only once the handler succeeded. An event that cannot be handled by retrying
(malformed, unknown type or version, invalid payload) or that failed ``max_deliveries`` times
goes to the dead-letter stream with the reason, and is acknowledged."""

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import structlog
from prometheus_client import Counter
from redis.exceptions import RedisError

from ..core.correlation_id import correlation_id_var
{% if values.traced %}
from ..core.tracing import continued_trace
{% endif %}
from . import probes
from .envelope import EventEnvelope, MalformedEventError
from .handlers import EventHandlers
from .metrics import EventMetrics
from .registry import EventRegistry, InvalidEventError, UnknownEventError
from .stream import EventStream, StreamEntry

logger = structlog.get_logger(__name__)

# Events read at once, handled concurrently, and acknowledged at once after their handlers.
# On SIGTERM the batch in hand finishes and is acknowledged; nothing more is read.
BATCH_SIZE = 10
# How long one read waits for new events: also how soon a stop request is noticed.
READ_BLOCK_SECONDS = 1.0
# A handler running longer fails (and the event is retried): a stuck call must not hold
# the consumer, whose liveness only shows that its event loop turns.
HANDLER_TIMEOUT_SECONDS = 30.0
# After a failed call to the stream (Redis unreachable), the next attempt waits this long.
STREAM_RETRY_SECONDS = 1.0
# The type label of an event whose type the registry does not know (metrics stay bounded).
UNKNOWN_TYPE = "unknown"


class Outcome(StrEnum):
    """The ``outcome`` label of the consumed counter."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # applied before: a redelivery or a replay
    IGNORED = "ignored"  # no handler for its type
    FAILED = "failed"  # left pending, retried after the idle timeout
    DEAD_LETTERED = "dead_lettered"


class DeadLetterReason(StrEnum):
    """The start of a dead letter's reason (its metric label); the details follow it."""

    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    INVALID = "invalid"
    MAX_DELIVERIES = "max_deliveries"


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    group: str
    name: str
    claim_idle_seconds: float
    max_deliveries: int
    batch_size: int = BATCH_SIZE
    block_seconds: float = READ_BLOCK_SECONDS
    # The files of the consumer process's probes (events.probes); not in the API's process.
    probe_files: bool = True


@contextmanager
def event_context(envelope: EventEnvelope) -> Iterator[None]:
    """The event's correlation ID and identity on every log line while it is handled{% if values.traced %}, in
    a span that continues the trace of the request that published it{% endif %}."""
    token = correlation_id_var.set(envelope.correlation_id)
    # Reset by their tokens afterwards: per event, bound_contextvars (which first copies the
    # whole logging context) costs several times as much.
    bound = structlog.contextvars.bind_contextvars(
        event_id=str(envelope.id),
        event_type=envelope.type,
        event_version=envelope.version,
        tenant_id=envelope.tenant_id,
    )
    try:
{% if values.traced %}
        with continued_trace(envelope.trace_context, name="event.consume", resource=envelope.type):
            yield
{% else %}
        yield
{% endif %}
    finally:
        structlog.contextvars.reset_contextvars(**bound)
        correlation_id_var.reset(token)


class EventConsumer:
    def __init__(
        self,
        stream: EventStream,
        registry: EventRegistry,
        handlers: EventHandlers,
        metrics: EventMetrics,
        options: ConsumerOptions,
    ) -> None:
        self._stream = stream
        self._registry = registry
        self._handlers = handlers
        self._metrics = metrics
        self._options = options
        # The consumed counter's child of each type and outcome, looked up once: labels()
        # takes a lock and builds its key on every call.
        self._consumed: dict[tuple[str, Outcome], Counter] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping`` is set; the batch in hand is finished first."""
        if not self._options.probe_files:
            await self._consume(stopping)
            return
        heartbeat = asyncio.create_task(_keep_alive())
        try:
            await self._consume(stopping)
        finally:
            heartbeat.cancel()
            probes.remove("ready")
            probes.remove("live")

    async def _consume(self, stopping: asyncio.Event) -> None:
        options = self._options
        # Reclaiming also refreshes the pending and lag gauges; it runs at start (events a
        # previous consumer left) and then a few times per idle timeout.
        claim_every = max(options.claim_idle_seconds / 3, options.block_seconds)
        next_claim = 0.0
        # The readiness file is rewritten every few seconds, not on every read: a file
        # system call per batch would cost more than the probe needs.
        next_ready_touch = 0.0
        group_ready = False
        while not stopping.is_set():
            try:
                if not group_ready:
                    await self._stream.ensure_group(options.group)
                    group_ready = True
                entries: list[StreamEntry] = []
                if time.monotonic() >= next_claim:
                    entries = await self._claim()
                    next_claim = time.monotonic() + claim_every
                if not entries:
                    entries = list(
                        await self._stream.read_new(
                            options.group, options.name, options.batch_size, options.block_seconds
                        )
                    )
                if options.probe_files and time.monotonic() >= next_ready_touch:
                    probes.touch("ready")
                    next_ready_touch = time.monotonic() + probes.TOUCH_INTERVAL_SECONDS
                await self.process(entries)
            except (RedisError, OSError, TimeoutError) as error:
                if options.probe_files:
                    probes.remove("ready")
                    next_ready_touch = 0.0
                logger.warning("event stream unavailable, retrying", error=repr(error))
                await _sleep_unless(stopping, STREAM_RETRY_SECONDS)

    async def _claim(self) -> list[StreamEntry]:
        options = self._options
        claimed = list(
            await self._stream.claim_idle(
                options.group, options.name, options.claim_idle_seconds, options.batch_size
            )
        )
        if claimed:
            logger.info("claimed idle pending events", count=len(claimed))
        self._metrics.pending.set(await self._stream.pending(options.group))
        self._metrics.consumer_lag.set(await self._stream.lag(options.group))
        return claimed

    async def process(self, entries: Sequence[StreamEntry]) -> list[Outcome]:
        """Handle entries of the group concurrently (their handlers' Redis calls share round
        trips), then acknowledge, in one call, each one handled or dead-lettered (not those
        whose handler failed: they are retried). A consumer that dies before the
        acknowledgement has them delivered again, which idempotent handlers make harmless.
        Events are independent: one of a batch may finish before an earlier one."""
        results = await asyncio.gather(
            *(self._process(entry) for entry in entries), return_exceptions=True
        )
        outcomes: list[Outcome] = []
        done: list[tuple[StreamEntry, str, Outcome]] = []
        unreachable: BaseException | None = None
        for entry, result in zip(entries, results, strict=True):
            if isinstance(result, BaseException):
                # The stream could not take a dead letter: the entry stays pending.
                unreachable = unreachable or result
                continue
            type_label, outcome = result
            outcomes.append(outcome)
            if outcome is Outcome.FAILED:
                self._count(type_label, outcome)
            else:
                done.append((entry, type_label, outcome))
        if done:
            await self._stream.ack(self._options.group, *(entry.id for entry, _, _ in done))
            for _, type_label, outcome in done:
                self._count(type_label, outcome)
        if unreachable is not None:
            raise unreachable
        return outcomes

    def _count(self, type_label: str, outcome: Outcome) -> None:
        consumed = self._consumed.get((type_label, outcome))
        if consumed is None:
            consumed = self._metrics.consumed.labels(type=type_label, outcome=outcome)
            self._consumed[(type_label, outcome)] = consumed
        consumed.inc()

    async def _process(self, entry: StreamEntry) -> tuple[str, Outcome]:
        """The entry's type label and outcome."""
        try:
            envelope = EventEnvelope.from_fields(entry.fields)
        except MalformedEventError as error:
            logger.error("malformed event", entry_id=entry.id, error=str(error))
            return await self._dead_letter(
                entry, UNKNOWN_TYPE, DeadLetterReason.MALFORMED, str(error)
            )
        with event_context(envelope):
            return await self._handle(entry, envelope)

    async def _handle(self, entry: StreamEntry, envelope: EventEnvelope) -> tuple[str, Outcome]:
        try:
            event = self._registry.decode(envelope)
        except UnknownEventError as error:
            return await self._dead_letter(
                entry, UNKNOWN_TYPE, DeadLetterReason.UNKNOWN, str(error)
            )
        except InvalidEventError as error:
            return await self._dead_letter(
                entry, envelope.type, DeadLetterReason.INVALID, str(error)
            )
        max_deliveries = self._options.max_deliveries
        type_label = envelope.type
        if entry.deliveries > max_deliveries:
            # Its consumers died (or timed out) holding it every time.
            detail = f"delivered {entry.deliveries - 1} times without being acknowledged"
            return await self._dead_letter(
                entry, type_label, DeadLetterReason.MAX_DELIVERIES, detail
            )
        handler = self._handlers.get(envelope.type)
        if handler is None:
            return type_label, Outcome.IGNORED
        try:
            async with asyncio.timeout(HANDLER_TIMEOUT_SECONDS):
                applied = await handler(envelope, event)
        except Exception as error:
            message = str(error) or type(error).__name__
            if entry.deliveries >= max_deliveries:
                logger.error("event handler failed, dead-lettered", error=message)
                detail = f"handler failed {entry.deliveries} times, last: {message}"
                return await self._dead_letter(
                    entry, type_label, DeadLetterReason.MAX_DELIVERIES, detail
                )
            logger.warning(
                "event handler failed, will retry",
                attempt=entry.deliveries,
                max_deliveries=max_deliveries,
                error=message,
            )
            return type_label, Outcome.FAILED
        outcome = Outcome.APPLIED if applied else Outcome.DUPLICATE
        # DEBUG: a line per event would cost about as much as the event itself; the
        # consumed counter has them by outcome, and every failure is logged.
        logger.debug("event handled", outcome=outcome.value, delivery=entry.deliveries)
        return type_label, outcome

    async def _dead_letter(
        self, entry: StreamEntry, type_label: str, reason: DeadLetterReason, detail: str
    ) -> tuple[str, Outcome]:
        """Written before the acknowledgement: a crash in between dead-letters it twice
        rather than never. The stream counts it (``dead_lettered``, by reason)."""
        await self._stream.dead_letter(entry, f"{reason.value}: {detail}")
        logger.error("event dead-lettered", entry_id=entry.id, reason=reason.value, detail=detail)
        return type_label, Outcome.DEAD_LETTERED


async def _keep_alive() -> None:
    """The liveness file, from a task of the same event loop: it goes stale when the loop
    is blocked."""
    while True:
        probes.touch("live")
        await asyncio.sleep(probes.TOUCH_INTERVAL_SECONDS)


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
