"""The products table's key design, in one place. The tenant is the partition key, so one
Query reads a page of one tenant's products; the ``by_status`` index is partitioned by
tenant and status, so a listing by status is never cut short by a filter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

TENANT_KEY = "tenant_id"
ID_KEY = "id"
STATUS_INDEX = "by_status"
TENANT_STATUS_KEY = "tenant_status"


def tenant_status(tenant_id: str, status: str) -> str:
    """The ``by_status`` partition of a tenant's products with ``status``; tenant IDs cannot
    contain ``#``, so the value is unambiguous."""
    return f"{tenant_id}#{status}"


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments of ``CreateTable`` (on-demand billing: no capacity to plan)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": TENANT_KEY, "AttributeType": "S"},
            {"AttributeName": ID_KEY, "AttributeType": "S"},
            {"AttributeName": TENANT_STATUS_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": TENANT_KEY, "KeyType": "HASH"},
            {"AttributeName": ID_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": TENANT_STATUS_KEY, "KeyType": "HASH"},
                    {"AttributeName": ID_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


async def create_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the table and wait until it is active; an existing table is left as it is."""
    try:
        await client.create_table(**table_definition(table_name))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    waiter = client.get_waiter("table_exists")
    await waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
