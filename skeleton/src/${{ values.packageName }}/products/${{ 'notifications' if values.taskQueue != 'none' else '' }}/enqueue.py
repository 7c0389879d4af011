"""Enqueueing never fails the request: when the broker cannot take the task, the product is
still created and the notification is lost (logged and counted). Making it reliable would
take an outbox written in the product's transaction."""

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
