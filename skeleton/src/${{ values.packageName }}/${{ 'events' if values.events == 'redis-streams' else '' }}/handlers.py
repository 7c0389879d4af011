"""What the consumer runs for each event type. Delivery is at least once (a consumer that
dies before its acknowledgement leaves the event to another), and a replay runs handlers
again on purpose, so every handler must be idempotent."""

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel

from .envelope import EventEnvelope


class EventHandler(Protocol):
    async def __call__(self, envelope: EventEnvelope, event: BaseModel, /) -> bool:
        """``event`` is the payload upcast to its type's latest version. True when the event
        had its effect now, False when it had it before (a redelivery or a replay)."""
        ...


# By event type; a type without a handler is acknowledged and counted as ignored.
EventHandlers = Mapping[str, EventHandler]
