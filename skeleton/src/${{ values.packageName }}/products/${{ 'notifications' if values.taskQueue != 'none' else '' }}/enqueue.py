{% if values.events == 'redis-streams' %}
"""The event consumer enqueues the task when it handles product.created: when the broker
cannot take it, the handler fails (logged and counted) and the event stays in the stream,
to be handled again, so the notification waits for the broker instead of being lost."""
{% else %}
"""Enqueueing never fails the request: when the broker cannot take the task, the product is
still created and the notification is lost (logged and counted). Making it reliable would
take an outbox written in the product's transaction."""
{% endif %}

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Counter

from ...core.metrics import ServiceMetrics
from .notice import TASK_NAME, ProductCreatedNotice

logger = structlog.get_logger(__name__)

# Longest a request waits for the broker to take a task.
ENQUEUE_TIMEOUT_SECONDS = 2.0


def enqueue_failures(metrics: ServiceMetrics) -> Counter:
    return metrics.counter("task_enqueue_failures", "Tasks the broker did not take.", ("task",))


async def enqueue(
    notice: ProductCreatedNotice, publish: Callable[[], Awaitable[object]], failures: Counter
) -> None:
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
            await publish()
    except Exception as error:
        failures.labels(task=TASK_NAME).inc()
        logger.error(
            "could not enqueue the product created notification",
            product_id=notice.product_id,
            error=type(error).__name__,
        )
{% if values.events == 'redis-streams' %}
        raise
{% endif %}
