"""``EventStream`` in process memory, for local work without Redis: the same entry IDs,
consumer groups, pending entries, claims and dead letters, seen only by this process and
lost when it exits."""

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .envelope import EventEnvelope
from .metrics import EventMetrics
from .stream import DeadLetter, StreamEntry, as_dead_letter, check_block, dead_letter_fields

EntryKey = tuple[int, int]
SEQUENCE_MAX = 2**64 - 1


def parse_id(entry_id: str, *, end: bool = False) -> EntryKey:
    """``<ms>-<seq>``, or a bare ``<ms>`` meaning its first (or, as an end, last) entry."""
    if entry_id == "-":
        return (0, 0)
    if entry_id == "+":
        return (SEQUENCE_MAX, SEQUENCE_MAX)
    milliseconds, _, sequence = entry_id.partition("-")
    try:
        return (int(milliseconds), int(sequence) if sequence else (SEQUENCE_MAX if end else 0))
    except ValueError:
        raise ValueError(f"invalid stream ID {entry_id!r}") from None


def format_id(key: EntryKey) -> str:
    return f"{key[0]}-{key[1]}"


@dataclass(slots=True)
class _Delivery:
    consumer: str
    count: int
    at: float


@dataclass(slots=True)
class _Group:
    last_delivered: EntryKey
    pending: dict[EntryKey, _Delivery] = field(default_factory=dict)


class InProcessEventStream:
    def __init__(
        self,
        *,
        max_length: int,
        metrics: EventMetrics,
        clock: Callable[[], float] = time.time,
        idle_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: dict[EntryKey, dict[str, str]] = {}
        self._last: EntryKey = (0, 0)
        self._groups: dict[str, _Group] = {}
        self._dead_letters: dict[EntryKey, dict[str, str]] = {}
        self._last_dead_letter: EntryKey = (0, 0)
        self._max_length = max_length
        self._metrics = metrics
        self._clock = clock
        self._idle_clock = idle_clock
        # Set (and replaced) on every append and by end_blocked_reads: wakes the blocked reads.
        self._appended = asyncio.Event()
        # Counts end_blocked_reads() calls: a read blocked before one returns at once.
        self._blocks_ended = 0

    def _next_id(self, last: EntryKey) -> EntryKey:
        # As Redis: the time in ms, or the last ID's time if the clock went back.
        milliseconds = int(self._clock() * 1000)
        if milliseconds > last[0]:
            return (milliseconds, 0)
        return (last[0], last[1] + 1)

    async def append(self, envelope: EventEnvelope) -> str:
        return self._add(envelope.to_fields())

    async def append_serialised(self, envelopes: Sequence[str]) -> None:
        for envelope in envelopes:
            self._add(EventEnvelope.fields_of(envelope))

    def _add(self, fields: dict[str, str]) -> str:
        key = self._last = self._next_id(self._last)
        self._entries[key] = fields
        while len(self._entries) > self._max_length:
            del self._entries[next(iter(self._entries))]
        self._metrics.published.labels(type=fields["type"]).inc()
        self._wake_blocked_reads()
        return format_id(key)

    def _wake_blocked_reads(self) -> None:
        self._appended.set()
        self._appended = asyncio.Event()

    def end_blocked_reads(self) -> None:
        """Return every read blocked now, as if its block had run out: a consumer that
        stops need not wait for it."""
        self._blocks_ended += 1
        self._wake_blocked_reads()

    async def last_id(self) -> str:
        return format_id(self._last)

    async def ensure_group(self, group: str) -> None:
        self._groups.setdefault(group, _Group(last_delivered=(0, 0)))

    def _group(self, group: str) -> _Group:
        try:
            return self._groups[group]
        except KeyError:
            raise ValueError(f"no consumer group {group!r}") from None

    def _after(self, key: EntryKey, count: int) -> list[EntryKey]:
        return [entry for entry in self._entries if entry > key][:count]

    async def _wait_for_entries_after(self, key: EntryKey, block_seconds: float) -> None:
        if block_seconds == 0:
            return
        blocks_ended = self._blocks_ended
        try:
            async with asyncio.timeout(block_seconds):
                while self._last <= key and self._blocks_ended == blocks_ended:
                    await self._appended.wait()
        except TimeoutError:
            return

    async def read_new(
        self, group: str, consumer: str, count: int, block_seconds: float
    ) -> list[StreamEntry]:
        check_block(block_seconds)
        state = self._group(group)
        await self._wait_for_entries_after(state.last_delivered, block_seconds)
        keys = self._after(state.last_delivered, count)
        now = self._idle_clock()
        for key in keys:
            state.pending[key] = _Delivery(consumer, 1, now)
        if keys:
            state.last_delivered = keys[-1]
        return [StreamEntry(format_id(key), dict(self._entries[key]), 1) for key in keys]

    async def claim_idle(
        self, group: str, consumer: str, min_idle_seconds: float, count: int
    ) -> list[StreamEntry]:
        state = self._group(group)
        now = self._idle_clock()
        claimed: list[StreamEntry] = []
        for key, delivery in sorted(state.pending.items()):
            if len(claimed) == count:
                break
            if now - delivery.at < min_idle_seconds:
                continue
            if key not in self._entries:  # trimmed while pending
                del state.pending[key]
                continue
            delivery.consumer, delivery.count, delivery.at = consumer, delivery.count + 1, now
            claimed.append(StreamEntry(format_id(key), dict(self._entries[key]), delivery.count))
        return claimed

    async def ack(self, group: str, *ids: str) -> None:
        state = self._group(group)
        for entry_id in ids:
            state.pending.pop(parse_id(entry_id), None)

    async def read_after(
        self, last_id: str | None, count: int, block_seconds: float
    ) -> list[StreamEntry]:
        check_block(block_seconds)
        key = self._last if last_id is None else parse_id(last_id)
        await self._wait_for_entries_after(key, block_seconds)
        return [
            StreamEntry(format_id(entry), dict(self._entries[entry]))
            for entry in self._after(key, count)
        ]

    async def range(self, start_id: str, end_id: str, count: int) -> list[StreamEntry]:
        start, end = parse_id(start_id), parse_id(end_id, end=True)
        keys = [key for key in self._entries if start <= key <= end][:count]
        return [StreamEntry(format_id(key), dict(self._entries[key])) for key in keys]

    async def pending(self, group: str) -> int:
        return len(self._group(group).pending)

    async def lag(self, group: str) -> int:
        last_delivered = self._group(group).last_delivered
        return sum(1 for key in self._entries if key > last_delivered)

    async def dead_letter(self, entry: StreamEntry, reason: str) -> str:
        key = self._last_dead_letter = self._next_id(self._last_dead_letter)
        self._dead_letters[key] = dead_letter_fields(entry, reason)
        self._metrics.dead_lettered.labels(
            type=entry.fields.get("type", "unknown"), reason=reason.split(":", 1)[0]
        ).inc()
        return format_id(key)

    async def dead_letters(self, count: int) -> list[DeadLetter]:
        return [
            as_dead_letter(format_id(key), fields)
            for key, fields in list(self._dead_letters.items())[:count]
        ]

    async def delete_dead_letter(self, dead_letter_id: str) -> bool:
        return self._dead_letters.pop(parse_id(dead_letter_id), None) is not None
