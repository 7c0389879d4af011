"""The arq task delivering the "product created" notification. Transient failures are
retried with jittered backoff; the last failure, or a permanent one, is dead-lettered."""

import asyncio
from typing import Any

import structlog
from arq import Retry

from ..core.config import Settings
{% if values.traced %}
from ..core.tracing import continued_trace
{% endif %}
from ..products.notifications.delivery import (
    DeliveryLedger,
    TransientDeliveryError,
    deliver_product_created,
    retry_delay_seconds,
    task_context,
)
{% if values.traced %}
from ..products.notifications.notice import TASK_NAME, ProductCreatedNotice
{% else %}
from ..products.notifications.notice import ProductCreatedNotice
{% endif %}

logger = structlog.get_logger(__name__)


async def notify_product_created(
    ctx: dict[str, Any],
    notice: dict[str, str],
    correlation_id: str | None = None,
{% if values.traced %}
    trace_headers: dict[str, str] | None = None,
{% endif %}
) -> None:
    """``ctx`` holds what the worker's startup opened and arq's ``job_try`` (1, 2, ...)."""
    product_notice = ProductCreatedNotice(**notice)
{% if values.traced %}
    # ${{ 'ddtrace' if values.datadog else 'OpenTelemetry' }} does not instrument arq: continue the request's trace from the job's arguments.
    with (
        continued_trace(trace_headers, name="arq.job", resource=TASK_NAME),
        task_context(product_notice, correlation_id),
    ):
        await _attempt(ctx, product_notice)
{% else %}
    with task_context(product_notice, correlation_id):
        await _attempt(ctx, product_notice)
{% endif %}


async def _attempt(ctx: dict[str, Any], notice: ProductCreatedNotice) -> None:
    settings: Settings = ctx["settings"]
    ledger: DeliveryLedger | None = ctx["ledger"]
    attempt: int = ctx["job_try"]
    try:
        # Short of the job timeout, which would fail the job without a retry.
        async with asyncio.timeout(settings.task_time_limit_seconds * 0.8):
            await deliver_product_created(
                notice,
                http_client=ctx["http_client"],
                webhook_url=settings.notification_webhook_url,
                ledger=ledger,
            )
    except (TransientDeliveryError, TimeoutError) as error:
        if attempt <= settings.task_max_retries:
            delay = retry_delay_seconds(attempt, settings.task_retry_backoff_max_seconds)
            logger.warning(
                "product created notification failed, will retry",
                attempt=attempt,
                max_retries=settings.task_max_retries,
                retry_in_seconds=round(delay, 2),
                error=str(error) or type(error).__name__,
            )
            raise Retry(defer=delay) from error
        await _fail(ledger, notice, error, attempt)
        raise
    except Exception as error:
        await _fail(ledger, notice, error, attempt)
        raise


async def _fail(
    ledger: DeliveryLedger | None, notice: ProductCreatedNotice, error: Exception, attempts: int
) -> None:
    message = str(error) or type(error).__name__
    logger.error("product created notification failed", attempts=attempts, error=message)
    if ledger is not None:
        await ledger.dead_letter(notice, error=message, attempts=attempts)
