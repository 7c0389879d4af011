"""The service's DynamoDB table, opened and closed with the app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aioboto3
import structlog
from fastapi import FastAPI, Request

from ..core.config import Settings
from ..core.errors import ServiceUnavailable
from ..core.health import HealthRegistry

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.service_resource import Table

logger = structlog.stdlib.get_logger(__name__)


@asynccontextmanager
async def dynamodb_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep the table resource in ``app.state.dynamodb_table`` while the app runs and
    register its readiness check. Locally without an endpoint there is no table."""
    settings: Settings = app.state.settings
    health: HealthRegistry = app.state.health
    if settings.uses_stand_ins and settings.dynamodb_endpoint_url is None:
        logger.info("no DynamoDB endpoint configured: data is kept in process")
        app.state.dynamodb_table = None
        yield
        return
    session = aioboto3.Session(region_name=settings.aws_region)
    async with session.resource(
        "dynamodb", endpoint_url=settings.dynamodb_endpoint_url
    ) as dynamodb:
        app.state.dynamodb_table = await dynamodb.Table(settings.dynamodb_table)

        async def check() -> None:
            await dynamodb.meta.client.describe_table(TableName=settings.dynamodb_table)

        health.register("dynamodb", check, critical=True)
        try:
            yield
        finally:
            health.unregister("dynamodb")


def get_table(request: Request) -> "Table":
    """FastAPI dependency: the service's table."""
    table: Table | None = request.app.state.dynamodb_table
    if table is None:
        raise ServiceUnavailable("No DynamoDB table is configured.")
    return table
