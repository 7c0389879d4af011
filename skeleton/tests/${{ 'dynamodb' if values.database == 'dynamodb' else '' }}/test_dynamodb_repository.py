"""The DynamoDB repository against the moto server: conditional writes and item format."""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import aioboto3
import pytest
from types_aiobotocore_dynamodb.service_resource import Table

from ${{ values.packageName }}.dynamodb.cursor import decode_cursor, encode_cursor
{% if values.events == 'redis-streams' %}
from ${{ values.packageName }}.events.outbox_dynamodb import DynamoDbOutbox
{% endif %}
from ${{ values.packageName }}.products.dynamodb import DynamoDbProductRepository
from ${{ values.packageName }}.products.models import Product, ProductStatus
from ${{ values.packageName }}.products.pagination import Page, PageRequest
from ${{ values.packageName }}.products.repository import DuplicateProductError, StaleProductError

pytestmark = pytest.mark.anyio


@pytest.fixture
async def table(dynamodb_endpoint: str, dynamodb_table: str) -> AsyncIterator[Table]:
    session = aioboto3.Session()
    async with session.resource(
        "dynamodb", region_name="us-east-1", endpoint_url=dynamodb_endpoint
    ) as dynamodb:
        yield await dynamodb.Table(dynamodb_table)


@pytest.fixture
def repository(table: Table) -> DynamoDbProductRepository:
    return DynamoDbProductRepository(table${{ ', DynamoDbOutbox(table, batch_size=100)' if values.events == 'redis-streams' else '' }})


def product(**changes: Any) -> Product:
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    widget = Product(
        tenant_id="tenant-a",
        id=uuid4(),
        name="Widget",
        description=None,
        price=Decimal("19.90"),
        status=ProductStatus.DRAFT,
        created_at=now,
        updated_at=now,
    )
    return replace(widget, **changes)


async def test_add_refuses_an_id_that_exists(repository: DynamoDbProductRepository) -> None:
    first = product()
    await repository.add(first)

    with pytest.raises(DuplicateProductError):
        await repository.add(replace(first, name="Impostor"))

    assert await repository.get("tenant-a", first.id) == first


async def test_the_same_id_in_another_tenant_is_another_product(
    repository: DynamoDbProductRepository,
) -> None:
    first = product()
    await repository.add(first)
    await repository.add(replace(first, tenant_id="tenant-b"))

    assert await repository.get("tenant-a", first.id) == first


async def test_replace_needs_the_version_it_was_based_on(
    repository: DynamoDbProductRepository,
) -> None:
    original = product()
    await repository.add(original)
    winner = replace(original, name="first", version=2)
    loser = replace(original, name="second", version=2)

    assert await repository.replace(winner) is True
    with pytest.raises(StaleProductError):
        await repository.replace(loser)

    assert await repository.get("tenant-a", original.id) == winner


async def test_replace_of_a_missing_product_is_false(
    repository: DynamoDbProductRepository,
) -> None:
    assert await repository.replace(product(version=2)) is False
    assert await repository.list_page("tenant-a", PageRequest()) == Page(PageRequest(), [], None)


async def test_delete_says_whether_the_product_existed(
    repository: DynamoDbProductRepository,
) -> None:
    stored = product()
    await repository.add(stored)

    assert await repository.delete("tenant-a", stored.id) is True
    assert await repository.delete("tenant-a", stored.id) is False
    assert await repository.get("tenant-a", stored.id) is None


async def test_delete_with_a_version_checks_it(repository: DynamoDbProductRepository) -> None:
    stored = product()
    await repository.add(stored)

    with pytest.raises(StaleProductError):
        await repository.delete("tenant-a", stored.id, version=2)
    assert await repository.get("tenant-a", stored.id) == stored
    assert await repository.delete("tenant-a", stored.id, version=1) is True
    assert await repository.delete("tenant-a", stored.id, version=1) is False


@pytest.mark.parametrize("price", ["19.90", "19.9", "3", "0.01", "1E+1", "9999999999.99"])
async def test_price_comes_back_as_it_was_given(
    repository: DynamoDbProductRepository, price: str
) -> None:
    stored = product(price=Decimal(price))
    await repository.add(stored)

    found = await repository.get("tenant-a", stored.id)

    assert found is not None
    assert str(found.price) == price


async def test_item_format(repository: DynamoDbProductRepository, table: Table) -> None:
    stored = product(description="A widget", status=ProductStatus.ACTIVE)
    await repository.add(stored)

    item = (await table.get_item(Key={"tenant_id": "tenant-a", "id": str(stored.id)}))["Item"]

    assert item["price"] == Decimal("19.9")  # a DynamoDB number
    assert item["version"] == 1
    assert item["created_at"] == "2026-01-02T03:04:05.678901+00:00"
    assert item["tenant_status"] == "tenant-a#active"


def test_cursor_round_trip() -> None:
    key = {"tenant_id": "tenant-a", "id": str(uuid4()), "tenant_status": "tenant-a#draft"}

    assert decode_cursor(encode_cursor(key)) == key
