"""``ProductEvents`` over Celery: how the notification task is enqueued."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from celery import Celery
from prometheus_client import Counter

from ..core.config import Settings
from ..core.correlation_id import get_correlation_id
from ..core.health import HealthRegistry
from ..core.metrics import ServiceMetrics
from ..core.redis import BROKER_TIMEOUT_SECONDS, create_redis
from ..products.notifications.enqueue import enqueue, enqueue_failures
from ..products.notifications.events import ProductEvents
from ..products.notifications.notice import ProductCreatedNotice
from .app import celery_config, create_celery_app
from .tasks import notify_product_created

logger = structlog.get_logger(__name__)


class CeleryProductEvents:
    def __init__(self, app: Celery, failures: Counter) -> None:
        self._app = app
        self._failures = failures

    async def product_created(self, notice: ProductCreatedNotice) -> None:
        # The task bound to this app (a shared task is bound to every app).
        task = self._app.tasks[notify_product_created.name]
        # Publishing blocks (and runs the task, in eager mode): off the event loop.
        await enqueue(
            notice,
            lambda: asyncio.to_thread(
                task.apply_async,
                kwargs={"notice": notice.to_payload(), "correlation_id": get_correlation_id()},
                task_id=notice.idempotency_key,
            ),
            self._failures,
        )


@asynccontextmanager
async def product_events_lifespan(
    settings: Settings, health: HealthRegistry, metrics: ServiceMetrics
) -> AsyncIterator[ProductEvents]:
    """With a broker, its readiness check too: non-critical, as without it only the
    notifications are lost."""
    celery_app = create_celery_app(celery_config(settings))
    events = CeleryProductEvents(celery_app, enqueue_failures(metrics))
    async with AsyncExitStack() as stack:
        stack.callback(celery_app.close)
        if settings.task_broker_url is None:
            logger.info("no task broker configured: tasks run in the API process")
        else:
            broker = create_redis(
                settings.task_broker_url.get_secret_value(),
                connect_timeout_seconds=BROKER_TIMEOUT_SECONDS,
                timeout_seconds=BROKER_TIMEOUT_SECONDS,
            )
            stack.push_async_callback(broker.aclose)

            async def check() -> None:
                await broker.ping()

            health.register("task_broker", check, critical=False)
            stack.callback(health.unregister, "task_broker")
        yield events
