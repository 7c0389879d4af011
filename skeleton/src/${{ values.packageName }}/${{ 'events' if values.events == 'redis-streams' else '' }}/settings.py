"""Settings of the events: the stream and its retention, the consumer group, the live
event route{% if values.database != 'none' %} and the outbox relay{% endif %}."""

from pydantic import BaseModel, Field, SecretStr

from ..core.service_settings import NonEmptyStr


class EventSettings(BaseModel):
    # Redis holding the event stream; rediss:// when in-transit encryption is on. Locally
    # without it, events go through an in-process stream that lives as long as the process.
    events_redis_url: SecretStr | None = None
    # Connecting and every command (a blocking read waits this long on top of its block).
    events_redis_timeout_seconds: float = Field(default=2.0, gt=0)
    events_stream: NonEmptyStr = "${{ values.name }}:product-events"
    # Retention: the stream keeps about this many entries (Redis trims whole nodes, so a few
    # more); older events are gone for replay and for a client resuming after them.
    events_stream_max_length: int = Field(default=1_000_000, ge=1)
    events_consumer_group: NonEmptyStr = "${{ values.name }}"
    # A pending entry not acknowledged for this long is claimed by another consumer; longer
    # than a handler ever takes, or a slow handler's event is handled twice.
    events_claim_idle_seconds: float = Field(default=60.0, gt=0)
    # An event that failed this many deliveries goes to the dead-letter stream.
    events_max_deliveries: int = Field(default=5, ge=1)
{% if values.database != 'none' %}
    events_relay_batch_size: int = Field(default=100, ge=1)
    # How often the relay looks for outbox rows it was not woken for (another replica's).
    events_relay_interval_seconds: float = Field(default=1.0, gt=0)
{% endif %}
    # Open event streams (Server-Sent Events) per replica; past it a client gets 503.
    events_sse_max_streams: int = Field(default=100, ge=1)
    # A comment line this often keeps proxies from closing an idle event stream.
    events_sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    # An event stream ends after this long, and its client resumes where it ended: clients
    # spread over the replicas there are now, and a stream outlives its token by this at most.
    events_sse_max_stream_seconds: float = Field(default=300.0, gt=0)
