"""The event stream: ``EventStream`` is what publishers and consumers need, ``RedisEventStream``
implements it on Redis Streams (``events.local`` in process).

Entry IDs are Redis stream IDs, ``<milliseconds>-<sequence>``: they grow with time, so a
time range is an ID range. Consumers read through a consumer group; an entry stays pending
until acknowledged, and a pending entry idle for long enough is claimed by another consumer.
Entries that cannot be handled go to a second stream, ``<stream>:dead-letters``."""

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from .envelope import EventEnvelope
from .metrics import EventMetrics

T = TypeVar("T")

# The longest a read may block: the client's socket timeout is this plus the command timeout.
MAX_BLOCK_SECONDS = 30.0


class PartialAppendError(Exception):
    """Only the first ``appended`` events of a batch were added; the cause says why the
    next one was not."""

    def __init__(self, appended: int) -> None:
        super().__init__(f"only the first {appended} events of the batch were appended")
        self.appended = appended


@dataclass(frozen=True, slots=True)
class StreamEntry:
    id: str
    fields: dict[str, str]
    # How many times the group has delivered it (1 on its first read; 0 outside a group).
    deliveries: int = 0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    # The entry as it was in the event stream, its ID there and why it was set aside.
    fields: dict[str, str]
    source_id: str
    reason: str


class EventStream(Protocol):
    async def append(self, envelope: EventEnvelope) -> str:
        """Add the event; its entry ID. The oldest entries beyond the retention are trimmed."""
        ...

    async def append_serialised(self, envelopes: Sequence[str]) -> None:
        """Add the events, envelopes as JSON (``EventEnvelope.model_dump_json``), in order and
        at once. If one fails, ``PartialAppendError`` tells how many before it were added
        (those after it may have been added too)."""
        ...

    async def last_id(self) -> str:
        """ID of the newest entry ("0-0" when empty): ``read_after`` from it misses nothing."""
        ...

    async def ensure_group(self, group: str) -> None:
        """Create the consumer group (reading from the stream's start) if it does not exist."""
        ...

    async def read_new(
        self, group: str, consumer: str, count: int, block_seconds: float
    ) -> list[StreamEntry]:
        """Entries never delivered to the group, now pending for ``consumer``."""
        ...

    async def claim_idle(
        self, group: str, consumer: str, min_idle_seconds: float, count: int
    ) -> list[StreamEntry]:
        """Pending entries no consumer acknowledged for ``min_idle_seconds``, taken over."""
        ...

    async def ack(self, group: str, *ids: str) -> None: ...

    async def read_after(
        self, last_id: str | None, count: int, block_seconds: float
    ) -> list[StreamEntry]:
        """Entries after ``last_id`` (None: only entries appended from now), without a group."""
        ...

    async def range(self, start_id: str, end_id: str, count: int) -> list[StreamEntry]:
        """Entries from ``start_id`` to ``end_id`` inclusive, oldest first (``-`` and ``+``
        are the ends; a bare millisecond time is a valid ID)."""
        ...

    async def pending(self, group: str) -> int:
        """Entries delivered to the group and not acknowledged."""
        ...

    async def lag(self, group: str) -> int:
        """Entries not yet delivered to the group."""
        ...

    async def dead_letter(self, entry: StreamEntry, reason: str) -> str:
        """Set the entry aside with ``reason``, ``<kind>: <detail>``; the kind labels the
        metric, so it must be one of a few words (``invalid``, ``unknown``, ``failed``...)."""
        ...

    async def dead_letters(self, count: int) -> list[DeadLetter]:
        """The oldest dead letters."""
        ...

    async def delete_dead_letter(self, dead_letter_id: str) -> bool: ...


def dead_letter_fields(entry: StreamEntry, reason: str) -> dict[str, str]:
    return {**entry.fields, "source_id": entry.id, "reason": reason}


def as_dead_letter(entry_id: str, fields: Mapping[str, str]) -> DeadLetter:
    original = {key: value for key, value in fields.items() if key not in ("source_id", "reason")}
    return DeadLetter(entry_id, original, fields.get("source_id", ""), fields.get("reason", ""))


def check_block(block_seconds: float) -> None:
    if not 0 <= block_seconds <= MAX_BLOCK_SECONDS:
        raise ValueError(f"block_seconds must be between 0 and {MAX_BLOCK_SECONDS}")


class RedisEventStream:
    """``EventStream`` on one Redis stream key. The client must decode responses, and its
    socket timeout must exceed ``MAX_BLOCK_SECONDS`` (``events.lifespan`` makes it so); every
    call is bounded by ``timeout_seconds`` (plus the block of a blocking read)."""

    def __init__(
        self,
        client: "Redis",
        stream: str,
        *,
        max_length: int,
        timeout_seconds: float,
        metrics: EventMetrics,
    ) -> None:
        self._client = client
        self._stream = stream
        self._dead_letters = f"{stream}:dead-letters"
        self._max_length = max_length
        self._timeout = timeout_seconds
        self._metrics = metrics

    async def _call(self, command: Awaitable[T], block_seconds: float = 0) -> T:
        async with asyncio.timeout(self._timeout + block_seconds):
            return await command

    async def append(self, envelope: EventEnvelope) -> str:
        # Approximate trimming (~): Redis drops whole nodes of entries, far cheaper than exact.
        fields: dict[Any, Any] = envelope.to_fields()
        entry_id = await self._call(
            self._client.xadd(self._stream, fields, maxlen=self._max_length, approximate=True)
        )
        self._metrics.published.labels(type=envelope.type).inc()
        return str(entry_id)

    async def append_serialised(self, envelopes: Sequence[str]) -> None:
        if not envelopes:
            return
        batch = [EventEnvelope.fields_of(envelope) for envelope in envelopes]
        # One round trip for the batch; without MULTI, Redis still runs them in order.
        async with self._client.pipeline(transaction=False) as pipeline:
            for fields in batch:
                entry: dict[Any, Any] = fields
                pipeline.xadd(self._stream, entry, maxlen=self._max_length, approximate=True)
            results = await self._call(pipeline.execute(raise_on_error=False))
        for appended, (fields, result) in enumerate(zip(batch, results, strict=True)):
            if isinstance(result, Exception):
                raise PartialAppendError(appended) from result
            self._metrics.published.labels(type=fields["type"]).inc()

    async def last_id(self) -> str:
        newest = await self._call(self._client.xrevrange(self._stream, count=1))
        return str(newest[0][0]) if newest else "0-0"

    async def ensure_group(self, group: str) -> None:
        try:
            await self._call(self._client.xgroup_create(self._stream, group, id="0", mkstream=True))
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read_new(
        self, group: str, consumer: str, count: int, block_seconds: float
    ) -> list[StreamEntry]:
        check_block(block_seconds)
        response = await self._call(
            self._client.xreadgroup(
                group,
                consumer,
                {self._stream: ">"},
                count=count,
                block=_block_ms(block_seconds),
            ),
            block_seconds,
        )
        return _entries(response, deliveries=1)

    async def claim_idle(
        self, group: str, consumer: str, min_idle_seconds: float, count: int
    ) -> list[StreamEntry]:
        # XAUTOCLAIM answers [next cursor, entries, deleted IDs]; entries trimmed away while
        # pending come back as deleted and leave the pending list.
        response = await self._call(
            self._client.xautoclaim(
                self._stream,
                group,
                consumer,
                min_idle_time=int(min_idle_seconds * 1000),
                start_id="0-0",
                count=count,
            )
        )
        claimed = [(str(entry_id), fields) for entry_id, fields in response[1] if fields]
        if not claimed:
            return []
        # The claim counted one more delivery of each; XPENDING tells how many in all.
        details = await self._call(
            self._client.xpending_range(
                self._stream,
                group,
                min=claimed[0][0],
                max=claimed[-1][0],
                count=len(claimed),
                consumername=consumer,
            )
        )
        deliveries = {str(item["message_id"]): int(item["times_delivered"]) for item in details}
        return [
            StreamEntry(entry_id, dict(fields), deliveries.get(entry_id, 1))
            for entry_id, fields in claimed
        ]

    async def ack(self, group: str, *ids: str) -> None:
        if ids:
            await self._call(self._client.xack(self._stream, group, *ids))

    async def read_after(
        self, last_id: str | None, count: int, block_seconds: float
    ) -> list[StreamEntry]:
        check_block(block_seconds)
        response = await self._call(
            self._client.xread(
                {self._stream: last_id or "$"}, count=count, block=_block_ms(block_seconds)
            ),
            block_seconds,
        )
        return _entries(response)

    async def range(self, start_id: str, end_id: str, count: int) -> list[StreamEntry]:
        response = await self._call(
            self._client.xrange(self._stream, min=start_id, max=end_id, count=count)
        )
        return [StreamEntry(str(entry_id), dict(fields)) for entry_id, fields in _pairs(response)]

    async def pending(self, group: str) -> int:
        summary = await self._call(self._client.xpending(self._stream, group))
        return int(summary["pending"])

    async def lag(self, group: str) -> int:
        groups: list[dict[str, Any]] = await self._call(self._client.xinfo_groups(self._stream))
        for info in groups:
            if info["name"] == group:
                # Redis cannot tell the lag after entries were deleted from the middle of the
                # stream (None): the stream's length is then the upper bound.
                if info.get("lag") is not None:
                    return int(info["lag"])
                return int(await self._call(self._client.xlen(self._stream)))
        raise ValueError(f"no consumer group {group!r} on stream {self._stream!r}")

    async def dead_letter(self, entry: StreamEntry, reason: str) -> str:
        # Dead letters are kept until deleted: no trimming.
        fields: dict[Any, Any] = dead_letter_fields(entry, reason)
        entry_id = await self._call(self._client.xadd(self._dead_letters, fields))
        self._metrics.dead_lettered.labels(
            type=entry.fields.get("type", "unknown"), reason=reason.split(":", 1)[0]
        ).inc()
        return str(entry_id)

    async def dead_letters(self, count: int) -> list[DeadLetter]:
        response = await self._call(self._client.xrange(self._dead_letters, count=count))
        return [as_dead_letter(str(entry_id), fields) for entry_id, fields in _pairs(response)]

    async def delete_dead_letter(self, dead_letter_id: str) -> bool:
        return bool(await self._call(self._client.xdel(self._dead_letters, dead_letter_id)))


def _block_ms(block_seconds: float) -> int | None:
    # None: no BLOCK argument, the read returns at once (BLOCK 0 would wait forever).
    return int(block_seconds * 1000) or None


def _pairs(response: Any) -> list[tuple[str, dict[str, str]]]:
    """The [id, fields] pairs of an XRANGE answer (typed loosely by redis-py)."""
    return list(response or [])


def _entries(response: Any, deliveries: int = 0) -> list[StreamEntry]:
    """Entries of an XREAD or XREADGROUP answer: [[stream, [[id, fields], ...]]] or None."""
    if not response:
        return []
    return [
        StreamEntry(str(entry_id), dict(fields), deliveries)
        for _stream, entries in response
        for entry_id, fields in entries
    ]
