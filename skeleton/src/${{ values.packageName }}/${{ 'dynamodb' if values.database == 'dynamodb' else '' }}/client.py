"""The service's DynamoDB table, opened with the app and closed on shutdown: one aioboto3
session and one resource (one connection pool) for every request."""

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, ClassVar

import aioboto3
import structlog
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from ..core.config import Settings
from ..core.errors import ServiceUnavailable
from ..core.health import HealthRegistry
{% if values.opentelemetry %}
from ..core.tracing import trace_dynamodb_calls
{% endif %}
from .local import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY, local_moto_server
from .settings import DynamoDbSettings
from .table import create_table

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.service_resource import Table

logger = structlog.get_logger(__name__)


def client_config(settings: DynamoDbSettings) -> AioConfig:
    """Timeouts and retries of every call; botocore's defaults (60 s) would outlast the
    request timeout many times over."""
    return AioConfig(
        connect_timeout=settings.dynamodb_connect_timeout_seconds,
        read_timeout=settings.dynamodb_read_timeout_seconds,
        retries={
            "mode": settings.dynamodb_retry_mode,
            # Not "max_attempts", which botocore counts without the first attempt.
            "total_max_attempts": settings.dynamodb_max_attempts,
        },
    )


@asynccontextmanager
async def dynamodb_lifespan(settings: Settings, health: HealthRegistry) -> AsyncIterator["Table"]:
    """Locally without an endpoint, a moto server stands in for DynamoDB."""
    async with AsyncExitStack() as stack:
        endpoint_url = settings.dynamodb_endpoint_url
        stand_in = endpoint_url is None and settings.uses_stand_ins
        if stand_in:
            endpoint_url = await stack.enter_async_context(local_moto_server())
        session = aioboto3.Session()
        dynamodb = await stack.enter_async_context(
            session.resource(
                "dynamodb",
                region_name=settings.aws_region,
                endpoint_url=endpoint_url,
                config=client_config(settings),
                # None: the standard AWS chain (role, environment, profile).
                aws_access_key_id=LOCAL_ACCESS_KEY_ID if stand_in else None,
                aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY if stand_in else None,
            )
        )
{% if values.opentelemetry %}
        trace_dynamodb_calls(dynamodb.meta.client)
{% endif %}
        if stand_in:
            await create_table(dynamodb.meta.client, settings.dynamodb_table)
            logger.info("DynamoDB stand-in started", endpoint_url=endpoint_url)
        table = await dynamodb.Table(settings.dynamodb_table)

        async def table_is_reachable() -> None:
            await dynamodb.meta.client.describe_table(TableName=settings.dynamodb_table)

        health.register("dynamodb", table_is_reachable, critical=True, timeout_seconds=2.0)
        stack.callback(health.unregister, "dynamodb")
        yield table


class StoreUnavailable(ServiceUnavailable):
    """503 with ``Retry-After``: throttling and outages are expected to pass."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}


@contextmanager
def unavailable_on_dynamodb_errors() -> Iterator[None]:
    """Turn what DynamoDB cannot serve (throttling after the retries, an unreachable
    endpoint, a timeout, a missing table) into a 503 the client may retry, never a 500."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        # The code or type only: messages can quote the request's keys.
        reason = type(error).__name__
        if isinstance(error, ClientError):
            reason = error.response.get("Error", {}).get("Code", reason)
        logger.warning("DynamoDB call failed", error=reason)
        raise StoreUnavailable("The product store is unavailable; retry shortly.") from error
