"""The service's DynamoDB table, opened and closed with the app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aioboto3
from fastapi import FastAPI, Request

from ..core.config import Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.service_resource import Table


@asynccontextmanager
async def dynamodb_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep the table resource in ``app.state.dynamodb_table`` while the app runs."""
    settings: Settings = app.state.settings
    session = aioboto3.Session(region_name=settings.aws_region)
    async with session.resource(
        "dynamodb", endpoint_url=settings.dynamodb_endpoint_url
    ) as dynamodb:
        app.state.dynamodb_table = await dynamodb.Table(settings.dynamodb_table)
        yield


def get_table(request: Request) -> "Table":
    """FastAPI dependency: the service's table."""
    table: Table = request.app.state.dynamodb_table
    return table
