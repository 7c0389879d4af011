"""The API's side of the notification: what it enqueues, behind the ``ProductEvents`` port.

When the broker cannot take the task, the product is still created: the failure is logged
and counted (``task_enqueue_failures_total``), and the notification is lost. Making it
reliable would take an outbox written in the product's transaction.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Protocol

import structlog
from prometheus_client import Counter

from ...core.metrics import HttpMetrics
from ..models import Product

logger = structlog.stdlib.get_logger(__name__)

TASK_NAME = "products.notify_product_created"
# Longest a request waits for the broker to take a task.
ENQUEUE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ProductCreatedNotice:
    """The task's argument: plain strings, so it serializes as JSON."""

    product_id: str
    tenant_id: str
    name: str
    created_at: str

    @classmethod
    def of(cls, product: Product) -> "ProductCreatedNotice":
        return cls(
            product_id=str(product.id),
            tenant_id=product.tenant_id,
            name=product.name,
            created_at=product.created_at.isoformat(),
        )

    @property
    def idempotency_key(self) -> str:
        return f"product-created-{self.product_id}"

    def to_payload(self) -> dict[str, str]:
        return asdict(self)


class ProductEvents(Protocol):
    """What the product service tells the rest of the system."""

    async def product_created(self, product: Product) -> None: ...


def enqueue_failures(metrics: HttpMetrics) -> Counter:
    return metrics.counter("task_enqueue_failures", "Tasks the broker did not take.", ("task",))


async def enqueue(
    notice: ProductCreatedNotice, publish: Callable[[], Awaitable[object]], failures: Counter
) -> None:
    """Run ``publish`` within ``ENQUEUE_TIMEOUT_SECONDS``, so a dead broker cannot hang the
    request; a failure is logged and counted, never raised."""
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
