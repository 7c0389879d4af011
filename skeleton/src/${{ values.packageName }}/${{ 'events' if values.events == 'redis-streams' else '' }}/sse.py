"""Server-Sent Events of the event stream, for one tenant: each event as a frame (``id:`` the
stream entry ID, ``event:`` the type, ``data:`` the envelope upcast to the latest version),
and a comment line when nothing was sent for a while, so that proxies keep the connection.

A client that reconnects sends the last ID it received (``Last-Event-ID``) and gets exactly
the entries after it: the stream is the only state, so a reconnect to another replica
works alike. That is also why a stream ends after a while (``events_sse_max_stream_seconds``):
clients then spread over the replicas there are now, and a stream outlives its credentials by
that long at most. ``OpenEventStreams`` bounds the streams of a replica and ends them on
shutdown."""

import asyncio
import re
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Any, ClassVar

import structlog
from fastapi.sse import format_sse_event
from redis.exceptions import RedisError
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..core.errors import BadRequestError, ServiceUnavailable
from .envelope import EventEnvelope, MalformedEventError
from .registry import EventRegistry, InvalidEventError, UnknownEventError
from .settings import EventSettings
from .stream import EventStream, StreamEntry

logger = structlog.get_logger(__name__)

LAST_EVENT_ID_HEADER = "Last-Event-ID"
# <milliseconds>-<sequence>; 19 digits each keep both parts within Redis's 64-bit numbers.
_ENTRY_ID = re.compile(r"[0-9]{1,19}-[0-9]{1,19}")
ENTRY_ID_PATTERN = f"^{_ENTRY_ID.pattern}$"
KEEP_ALIVE = b": keep-alive\n\n"
# Entries read from the stream at a time (of every tenant: the stream is shared).
READ_BATCH = 100
# The longest one read waits for new entries. A read its stream no longer needs (the client
# went away, the server is stopping) is cancelled, but a blocking Redis read may carry on
# regardless: it then ends within this time instead of a keep-alive interval.
READ_BLOCK_SECONDS = 1.0
# A slot frees when some client goes away, which nothing predicts, and Redis comes back when it
# does: a few seconds spread the retries of the clients refused meanwhile.
RETRY_AFTER_SECONDS = 5


class InvalidLastEventIdError(BadRequestError):
    code = "INVALID_LAST_EVENT_ID"


class TooManyStreamsError(ServiceUnavailable):
    code = "TOO_MANY_STREAMS"
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class EventStreamUnavailableError(ServiceUnavailable):
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def resume_position(values: list[str]) -> str | None:
    """The entry ID of the ``Last-Event-ID`` header, None without it; 400 when malformed."""
    if not values:
        return None
    if len(values) > 1 or _ENTRY_ID.fullmatch(values[0]) is None:
        raise InvalidLastEventIdError(
            f"The {LAST_EVENT_ID_HEADER} header must be one event ID as sent in the stream's "
            "id: lines, e.g. 1767225600000-0."
        )
    return values[0]


class EventStreamResponse(StreamingResponse):
    """A stream of events that frees its slot when it ends, however it ends, even before it
    started. (FastAPI's ``EventSourceResponse`` is for routes that are generators.)"""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        # nginx (and proxies that follow it) would otherwise buffer the stream.
        super().__init__(content, headers={"X-Accel-Buffering": "no"})
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


class OpenEventStreams:
    """The event streams open in this process, at most ``limit``; ``close`` ends them all
    (each sends its last frame and finishes its response)."""

    def __init__(self, limit: int, keepalive_seconds: float, lifetime_seconds: float) -> None:
        self.limit = limit
        self.keepalive_seconds = keepalive_seconds
        self.lifetime_seconds = lifetime_seconds
        self.count = 0
        self._closing = asyncio.Event()

    def close(self) -> None:
        self._closing.set()

    async def open(
        self,
        stream: EventStream,
        registry: EventRegistry,
        tenant_id: str,
        last_event_id: str | None,
    ) -> EventStreamResponse:
        """The response streaming ``tenant_id``'s events after entry ``last_event_id`` (None:
        from now on); 503 when the limit is reached or the stream is unreachable. The slot
        is held until the response ends."""
        if self.count >= self.limit or self._closing.is_set():
            raise TooManyStreamsError(
                f"This replica serves its limit of {self.limit} event streams; retry later."
            )
        try:
            # From the newest entry rather than "only new ones": reads one after the other
            # then miss nothing appended between them.
            after = last_event_id or await stream.last_id()
        except (RedisError, TimeoutError) as error:
            raise EventStreamUnavailableError(
                f"The event stream is unreachable ({type(error).__name__}); retry later."
            ) from None
        self.count += 1
        frames = _Frames(registry, tenant_id)
        return EventStreamResponse(self._frames(stream, frames, after), release=self._release)

    def _release(self) -> None:
        self.count -= 1

    async def _frames(
        self, stream: EventStream, frames: "_Frames", after: str
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        ends_at = last_sent + self.lifetime_seconds
        closing = asyncio.ensure_future(self._closing.wait())
        read: asyncio.Future[list[StreamEntry]] | None = None
        try:
            while (now := loop.time()) < ends_at:
                idle = now - last_sent
                if idle >= self.keepalive_seconds:
                    yield KEEP_ALIVE
                    last_sent = loop.time()
                    continue
                block = min(self.keepalive_seconds - idle, ends_at - now, READ_BLOCK_SECONDS)
                read = asyncio.ensure_future(stream.read_after(after, READ_BATCH, block))
                await asyncio.wait((read, closing), return_when=asyncio.FIRST_COMPLETED)
                if closing.done():
                    return
                try:
                    entries = read.result()
                except (RedisError, TimeoutError) as error:
                    # The client reconnects with the last ID it got and misses nothing.
                    logger.warning("event stream read failed", error=type(error).__name__)
                    return
                for entry in entries:
                    after = entry.id
                    frame = frames.frame(entry)
                    if frame is not None:
                        yield frame
                        last_sent = loop.time()
        finally:
            # On shutdown, or when the client went away while a read was waiting.
            closing.cancel()
            if read is not None:
                _discard(read)


def _discard(read: "asyncio.Future[list[StreamEntry]]") -> None:
    if not read.done():
        read.cancel()
    elif not read.cancelled():
        read.exception()  # retrieved: a failed read nobody waits for is not an error


class _Frames:
    """The frames of one tenant's events; other tenants' entries are skipped unread."""

    def __init__(self, registry: EventRegistry, tenant_id: str) -> None:
        self._registry = registry
        self._tenant_id = tenant_id
        self._latest = {kind.name: kind.latest.version for kind in registry.describe()}

    def frame(self, entry: StreamEntry) -> bytes | None:
        if entry.fields.get("tenant") != self._tenant_id:
            return None
        try:
            envelope = EventEnvelope.from_fields(entry.fields)
            payload = self._registry.decode(envelope)
        except (MalformedEventError, UnknownEventError, InvalidEventError) as error:
            # The consumers dead-letter it; a live client is not told about it.
            logger.warning("event not streamed", entry_id=entry.id, reason=str(error))
            return None
        latest = envelope.model_copy(
            update={
                "version": self._latest[envelope.type],
                "payload": payload.model_dump(mode="json"),
            }
        )
        return format_sse_event(data_str=latest.model_dump_json(), event=latest.type, id=entry.id)


SignalHandler = Callable[[int, FrameType | None], Any]


def _closing_first(close: Callable[[], None], handler: SignalHandler) -> SignalHandler:
    loop = asyncio.get_running_loop()

    def handle(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(close)
        handler(signum, frame)

    return handle


@contextmanager
def _closed_on_termination(streams: OpenEventStreams) -> Iterator[None]:
    """uvicorn waits for open responses before it runs the lifespan's shutdown, and a stream
    stays open for minutes: streams must end when the server is told to stop, not after. The
    server's handlers of SIGTERM and SIGINT (installed before the lifespan starts) get
    ``streams.close`` chained in front, and are put back afterwards."""
    chained: dict[int, SignalHandler] = {}
    # Signal handlers belong to the main thread (a server in another one installs none).
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            handler = signal.getsignal(signum)
            # SIG_DFL or SIG_IGN: no server handles it, there is nothing to chain onto.
            if callable(handler):
                signal.signal(signum, _closing_first(streams.close, handler))
                chained[signum] = handler
    try:
        yield
    finally:
        for chained_signal, server_handler in chained.items():
            signal.signal(chained_signal, server_handler)


@asynccontextmanager
async def open_event_streams_lifespan(settings: EventSettings) -> AsyncIterator[OpenEventStreams]:
    streams = OpenEventStreams(
        settings.events_sse_max_streams,
        settings.events_sse_keepalive_seconds,
        settings.events_sse_max_stream_seconds,
    )
    with _closed_on_termination(streams):
        try:
            yield streams
        finally:
            streams.close()
