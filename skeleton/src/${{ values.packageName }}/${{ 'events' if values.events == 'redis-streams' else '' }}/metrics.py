"""Metrics of the events: published and consumed by type, dead-lettered by type and reason,
and the consumer group's lag and pending entries (set by the consumer)."""

from dataclasses import dataclass
from typing import Self

from prometheus_client import Counter, Gauge

from ..core.metrics import ServiceMetrics


@dataclass(frozen=True, slots=True)
class EventMetrics:
    published: Counter
    consumed: Counter
    dead_lettered: Counter
    consumer_lag: Gauge
    pending: Gauge

    @classmethod
    def of(cls, metrics: ServiceMetrics) -> Self:
        return cls(
            published=metrics.counter(
                "events_published", "Events appended to the stream.", ("type",)
            ),
            consumed=metrics.counter(
                "events_consumed", "Events handled by this consumer.", ("type", "outcome")
            ),
            dead_lettered=metrics.counter(
                "events_dead_lettered",
                "Events moved to the dead-letter stream.",
                ("type", "reason"),
            ),
            consumer_lag=metrics.gauge(
                "events_consumer_lag", "Entries of the stream not yet delivered to the group."
            ),
            pending=metrics.gauge(
                "events_pending", "Entries delivered to the group and not yet acknowledged."
            ),
        )
