"""What the consumer runs for each event type. Delivery is at least once (a consumer that
dies before its acknowledgement leaves the event to another), and a replay runs handlers
again on purpose, so every handler must be idempotent."""

from collections.abc import Awaitable, Callable, Mapping

from pydantic import BaseModel

from .envelope import EventEnvelope

# Called with the envelope and its payload upcast to the type's latest version; answers True
# when the event had its effect now, False when it had it before (a redelivery or a replay).
EventHandler = Callable[[EventEnvelope, BaseModel], Awaitable[bool]]

# By event type; a type without a handler is acknowledged and counted as ignored.
EventHandlers = Mapping[str, EventHandler]
