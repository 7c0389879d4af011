"""The worker's side of the notification: delivery is at least once, so the webhook gets the
same ``Idempotency-Key`` on every attempt and a delivered notice is recorded in Redis."""

import json
{% if values.taskQueue == 'arq' %}
import random
{% endif %}
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx2
import structlog
from pydantic import SecretStr
from redis.asyncio import Redis

from ...core.correlation_id import correlation_id_var
from ...core.http_client import TRANSIENT_STATUS_CODES
from .notice import TASK_NAME, ProductCreatedNotice

logger = structlog.get_logger(__name__)

# Answers worth a later attempt: a retried task, seconds or minutes on, also outlasts a
# timeout, a rate limit (429) or a crash of the receiver.
REDELIVERED_STATUS_CODES = TRANSIENT_STATUS_CODES | {408, 425, 429, 500}
DELIVERED_TTL_SECONDS = 7 * 24 * 3600


class TransientDeliveryError(Exception):
    """Worth retrying later."""


class DeliveryLedger:
    """Delivered notices (the idempotency check) and the dead-letter list, in Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def delivered_key(self, product_id: str) -> str:
        return f"{self._prefix}:notifications:delivered:{product_id}"

    @property
    def dead_letter_key(self) -> str:
        return f"{self._prefix}:notifications:dead-letter"

    async def was_delivered(self, notice: ProductCreatedNotice) -> bool:
        return bool(await self._redis.exists(self.delivered_key(notice.product_id)))

    async def mark_delivered(self, notice: ProductCreatedNotice) -> None:
        # NX: the first delivery's record stays, whatever redelivery comes later.
        delivered_at = datetime.now(UTC).isoformat()
        await self._redis.set(
            self.delivered_key(notice.product_id), delivered_at, nx=True, ex=DELIVERED_TTL_SECONDS
        )

    async def dead_letter(self, notice: ProductCreatedNotice, *, error: str, attempts: int) -> None:
        entry = {
            **notice.to_payload(),
            "error": error,
            "attempts": attempts,
            "correlation_id": correlation_id_var.get(),
            "failed_at": datetime.now(UTC).isoformat(),
        }
        # Through a pipeline: typed alike by every redis-py version the worker allows.
        async with self._redis.pipeline(transaction=False) as pipeline:
            pipeline.rpush(self.dead_letter_key, json.dumps(entry))
            await pipeline.execute()


{% if values.taskQueue == 'arq' %}
def retry_delay_seconds(attempt: int, max_seconds: float) -> float:
    """Full jitter, so retries of many failed tasks do not arrive together."""
    return random.uniform(0, min(max_seconds, 2.0 ** (attempt - 1)))


{% endif %}
@contextmanager
def task_context(notice: ProductCreatedNotice, correlation_id: str | None) -> Iterator[None]:
    """The request's correlation ID on every log line of the task and on the webhook call."""
    token = correlation_id_var.set(correlation_id)
    try:
        with structlog.contextvars.bound_contextvars(
            task=TASK_NAME, product_id=notice.product_id, tenant_id=notice.tenant_id
        ):
            yield
    finally:
        correlation_id_var.reset(token)


async def deliver_product_created(
    notice: ProductCreatedNotice,
    *,
    http_client: httpx2.AsyncClient,
    webhook_url: SecretStr | None,
    ledger: DeliveryLedger | None,
) -> None:
    """Without a webhook the notice is only logged; without a ledger (local runs) nothing is
    recorded."""
    if ledger is not None and await ledger.was_delivered(notice):
        logger.info("product created notification already delivered")
        return
    if webhook_url is None:
        logger.info("product created notification (no webhook configured)", name=notice.name)
    else:
        await _post(http_client, webhook_url.get_secret_value(), notice)
    if ledger is not None:
        await ledger.mark_delivered(notice)
    logger.info("product created notification delivered")


async def _post(client: httpx2.AsyncClient, url: str, notice: ProductCreatedNotice) -> None:
    # The client adds X-Correlation-ID; the key lets the receiver drop repeated attempts.
    headers = {"Idempotency-Key": notice.idempotency_key}
    try:
        response = await client.post(url, json=notice.to_payload(), headers=headers)
    except httpx2.TransportError as error:
        raise TransientDeliveryError(f"webhook unreachable: {type(error).__name__}") from error
    if response.status_code in REDELIVERED_STATUS_CODES:
        raise TransientDeliveryError(f"webhook answered {response.status_code}")
    # Any other error status is permanent: retrying the same request cannot fix it.
    response.raise_for_status()
