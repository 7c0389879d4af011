"""The Celery task delivering the "product created" notification. Transient failures are
retried with jittered backoff; the last failure, or a permanent one, is dead-lettered."""

import asyncio
from contextlib import AsyncExitStack, ExitStack
from typing import Any

import billiard.einfo
import structlog
from celery import Task, shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded
from redis.asyncio import Redis

from ..core.config import Settings
from ..core.http_client import create_http_client
from ..core.redis import BROKER_TIMEOUT_SECONDS, create_redis
from ..products.notifications.delivery import (
    DeliveryLedger,
    TransientDeliveryError,
    deliver_product_created,
    task_context,
)
from ..products.notifications.notice import TASK_NAME, ProductCreatedNotice
from .app import service_settings

logger = structlog.get_logger(__name__)


class NotificationTask(Task[..., None]):
    def on_retry(
        self,
        exc: Exception,
        task_id: str,
        _args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: billiard.einfo.ExceptionInfo,
    ) -> None:
        logger.warning(
            "product created notification failed, will retry",
            attempt=self.request.retries + 1,
            max_retries=self.max_retries,
            error=str(exc),
        )

    def on_failure(
        self,
        exc: Exception,
        task_id: str,
        _args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: billiard.einfo.ExceptionInfo,
    ) -> None:
        attempts = self.request.retries + 1
        logger.error("product created notification failed", attempts=attempts, error=str(exc))
        notice = ProductCreatedNotice(**kwargs["notice"])
        settings = service_settings(self.app)
        if settings.task_broker_url is not None:
            asyncio.run(_dead_letter(settings, notice, error=str(exc), attempts=attempts))


@shared_task(
    name=TASK_NAME,
    bind=True,
    base=NotificationTask,
    autoretry_for=(TransientDeliveryError, SoftTimeLimitExceeded),
    retry_backoff=True,
    retry_jitter=True,
)
def notify_product_created(
    self: NotificationTask, notice: dict[str, str], correlation_id: str | None = None
) -> None:
    """``correlation_id`` is bound to the task's log lines by ``_bind_task_context``."""
    asyncio.run(_deliver(service_settings(self.app), ProductCreatedNotice(**notice)))


# Each task runs its own event loop (Celery tasks are synchronous), so its clients live as
# long as the task: a connection per task, cheap next to a webhook call.
async def _deliver(settings: Settings, notice: ProductCreatedNotice) -> None:
    async with AsyncExitStack() as stack:
        http_client = await stack.enter_async_context(create_http_client(settings))
        ledger = None
        if settings.task_broker_url is not None:
            redis = await stack.enter_async_context(_broker_redis(settings))
            ledger = DeliveryLedger(redis, settings.task_queue_name)
        await deliver_product_created(
            notice,
            http_client=http_client,
            webhook_url=settings.notification_webhook_url,
            ledger=ledger,
        )


async def _dead_letter(
    settings: Settings, notice: ProductCreatedNotice, *, error: str, attempts: int
) -> None:
    async with _broker_redis(settings) as redis:
        await DeliveryLedger(redis, settings.task_queue_name).dead_letter(
            notice, error=error, attempts=attempts
        )


def _broker_redis(settings: Settings) -> Redis:
    assert settings.task_broker_url is not None
    return create_redis(
        settings.task_broker_url.get_secret_value(),
        connect_timeout_seconds=BROKER_TIMEOUT_SECONDS,
        timeout_seconds=BROKER_TIMEOUT_SECONDS,
    )


# The correlation ID (and the product) in every log line of the task, Celery's own included:
# bound before the task starts, unbound after it ended.
_task_contexts: dict[str, ExitStack] = {}


@signals.task_prerun.connect
def _bind_task_context(
    task_id: str, task: Task[..., Any], kwargs: dict[str, Any], **_: Any
) -> None:
    if task.name != TASK_NAME:
        return
    stack = ExitStack()
    stack.enter_context(
        task_context(ProductCreatedNotice(**kwargs["notice"]), kwargs.get("correlation_id"))
    )
    _task_contexts[task_id] = stack


@signals.task_postrun.connect
def _unbind_task_context(task_id: str, **_: Any) -> None:
    stack = _task_contexts.pop(task_id, None)
    if stack is not None:
        stack.close()
