"""``ProductEvents`` over arq: how the notification task is enqueued.

The job ID is derived from the product ID, so a retried request queues one job."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
import structlog
from arq import ArqRedis
from prometheus_client import Counter
from redis.asyncio import ConnectionPool

from ..core.config import Settings
from ..core.correlation_id import get_correlation_id
from ..core.health import HealthRegistry
from ..core.http_client import create_http_client
from ..core.metrics import ServiceMetrics
from ..core.redis import BROKER_TIMEOUT_SECONDS, connection_options
{% if values.traced %}
from ..core.tracing import current_trace_headers
{% endif %}
from ..products.notifications.enqueue import enqueue, enqueue_failures
from ..products.notifications.events import ProductEvents
from ..products.notifications.notice import TASK_NAME, ProductCreatedNotice
from .settings import deserialize, serialize
from .tasks import notify_product_created

logger = structlog.get_logger(__name__)

# Longest the shutdown waits for notifications still running in process (local work).
IN_PROCESS_DRAIN_SECONDS = 5.0


def _task_arguments(notice: ProductCreatedNotice) -> dict[str, Any]:
    return {
        "notice": notice.to_payload(),
        "correlation_id": get_correlation_id(),
{% if values.traced %}
        "trace_headers": current_trace_headers(),
{% endif %}
    }


class ArqProductEvents:
    def __init__(self, pool: ArqRedis, failures: Counter) -> None:
        self._pool = pool
        self._failures = failures

    async def product_created(self, notice: ProductCreatedNotice) -> None:
        await enqueue(
            notice,
            lambda: self._pool.enqueue_job(
                TASK_NAME, _job_id=notice.idempotency_key, **_task_arguments(notice)
            ),
            self._failures,
        )


class InProcessProductEvents:
    """Local work without a broker: the task runs in the API's event loop, after the
    response, once (no retries) and without the Redis records."""

    def __init__(self, settings: Settings, http_client: httpx2.AsyncClient) -> None:
        self._context = {
            "settings": settings,
            "http_client": http_client,
            "ledger": None,
            # The last attempt: a failure is logged instead of retried.
            "job_try": settings.task_max_retries + 1,
        }
        self._running: set[asyncio.Task[None]] = set()

    async def product_created(self, notice: ProductCreatedNotice) -> None:
        task = asyncio.create_task(self._run(notice))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, notice: ProductCreatedNotice) -> None:
        try:
            await notify_product_created(self._context, **_task_arguments(notice))
        except Exception:
            return  # the task logged it

    async def drain(self) -> None:
        if self._running:
            await asyncio.wait(self._running, timeout=IN_PROCESS_DRAIN_SECONDS)


@asynccontextmanager
async def product_events_lifespan(
    settings: Settings, health: HealthRegistry, metrics: ServiceMetrics
) -> AsyncIterator[ProductEvents]:
    """With a broker, its readiness check too: non-critical, as without it only the
    notifications are lost."""
    async with AsyncExitStack() as stack:
        if settings.task_broker_url is None:
            logger.info("no task broker configured: tasks run in the API process")
            http_client = await stack.enter_async_context(create_http_client(settings))
            in_process = InProcessProductEvents(settings, http_client)
            stack.push_async_callback(in_process.drain)
            yield in_process
            return
        # The queue is the pool's default. No connection is opened here: the first enqueue
        # or health check connects, so a broker outage does not stop the API from starting.
        pool = ArqRedis(
            ConnectionPool.from_url(
                settings.task_broker_url.get_secret_value(),
                **connection_options(BROKER_TIMEOUT_SECONDS, BROKER_TIMEOUT_SECONDS),
            ),
            job_serializer=serialize,
            job_deserializer=deserialize,
            default_queue_name=settings.task_queue_name,
        )
        stack.push_async_callback(pool.aclose)
        events = ArqProductEvents(pool, enqueue_failures(metrics))

        async def check() -> None:
            await pool.ping()

        health.register("task_broker", check, critical=False)
        stack.callback(health.unregister, "task_broker")
        yield events
