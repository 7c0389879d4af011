"""``python -m ${{ values.packageName }}.dynamodb create-table`` creates the table where the
settings point, unless it exists; ``definition`` prints the input of
``aws dynamodb create-table --cli-input-json``."""

import argparse
import asyncio
import json
from collections.abc import Sequence

import aioboto3

from ..core.config import load_settings
from .client import client_config
from .settings import DynamoDbSettings
from .table import create_table, table_definition


async def create_configured_table(settings: DynamoDbSettings) -> None:
    session = aioboto3.Session()
    async with session.client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint_url,
        config=client_config(settings),
    ) as client:
        await create_table(client, settings.dynamodb_table)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}", description="The service's DynamoDB table."
    )
    parser.add_argument("command", choices=["create-table", "definition"])
    command = parser.parse_args(argv).command
    settings = load_settings()
    if command == "definition":
        print(json.dumps(table_definition(settings.dynamodb_table), indent=2))
    else:
        asyncio.run(create_configured_table(settings))


if __name__ == "__main__":
    main()
