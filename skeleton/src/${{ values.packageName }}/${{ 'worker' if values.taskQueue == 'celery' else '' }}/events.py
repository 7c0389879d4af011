"""How the API enqueues the notification task (``ProductEvents`` over Celery).

When the broker cannot take the task, the product is still created: the failure is logged
and counted (``task_enqueue_failures_total``), and the notification is lost. Making it
reliable would take an outbox written in the product's transaction.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from celery import Celery
from fastapi import FastAPI
from prometheus_client import Counter
from redis.asyncio import Redis

from ..core.config import Settings
from ..core.correlation import get_correlation_id
from ..core.health import HealthRegistry
from ..core.metrics import HttpMetrics
from ..products.models import Product
from ..products.notifications.events import TASK_NAME, ProductCreatedNotice
from .app import celery_config, create_celery_app
from .tasks import notify_product_created

logger = structlog.stdlib.get_logger(__name__)

# Longest a request waits for the broker to take a task.
ENQUEUE_TIMEOUT_SECONDS = 2.0


class CeleryProductEvents:
    def __init__(self, app: Celery, failures: Counter) -> None:
        self._app = app
        self._failures = failures

    async def product_created(self, product: Product) -> None:
        notice = ProductCreatedNotice.of(product)
        # The task bound to this app (a shared task is bound to every app).
        task = self._app.tasks[notify_product_created.name]
        try:
            # Publishing blocks (and runs the task, in eager mode): off the event loop, and
            # bounded so a dead broker cannot hang the request.
            async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
                await asyncio.to_thread(
                    task.apply_async,
                    kwargs={"notice": notice.to_payload(), "correlation_id": get_correlation_id()},
                    task_id=notice.idempotency_key,
                )
        except Exception as error:
            self._failures.labels(task=TASK_NAME).inc()
            logger.error(
                "could not enqueue the product created notification",
                product_id=notice.product_id,
                error=type(error).__name__,
            )


@asynccontextmanager
async def product_events_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Put the publisher in ``app.state.product_events``; with a broker, register its
    readiness check. Non-critical: without the broker products are still served and
    created, only their notifications are lost."""
    settings: Settings = app.state.settings
    health: HealthRegistry = app.state.health
    metrics: HttpMetrics = app.state.metrics
    failures = metrics.counter("task_enqueue_failures", "Tasks the broker did not take.", ("task",))
    celery_app = create_celery_app(celery_config(settings))
    app.state.product_events = CeleryProductEvents(celery_app, failures)
    async with AsyncExitStack() as stack:
        stack.callback(celery_app.close)
        if settings.task_broker_url is None:
            logger.info("no task broker configured: tasks run in the API process")
        else:
            broker = Redis.from_url(
                settings.task_broker_url.get_secret_value(),
                socket_connect_timeout=2,
                socket_timeout=2,
            )
            stack.push_async_callback(broker.aclose)

            async def check() -> None:
                await broker.ping()

            health.register("task_broker", check, critical=False)
            stack.callback(health.unregister, "task_broker")
        yield
