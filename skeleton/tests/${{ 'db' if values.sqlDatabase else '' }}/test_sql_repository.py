"""SqlProductRepository on the real database server: exact round trips, conflicts, tenancy
and the edges of pagination."""

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
{% if values.orm == 'sqlalchemy' %}
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
{% else %}
from sqlalchemy.ext.asyncio import AsyncEngine
{% endif %}

from ${{ values.packageName }}.core.config import Settings
{% if values.orm == 'none' %}
from ${{ values.packageName }}.db.connection import UnitOfWork
{% endif %}
from ${{ values.packageName }}.db.engine import create_engine
from ${{ values.packageName }}.products.models import Product, ProductStatus
from ${{ values.packageName }}.products.pagination import PageRequest
from ${{ values.packageName }}.products.repository import (
    DuplicateProductError,
    StaleProductError,
)
from ${{ values.packageName }}.products.sql import SqlProductRepository

pytestmark = [pytest.mark.anyio, pytest.mark.database]

TENANT = "tenant-a"
START = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@pytest.fixture
async def engine(settings: Settings, empty_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_database, settings, pool_size=2)
    yield engine
    await engine.dispose()


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[SqlProductRepository]:
    """A repository in one committed transaction, as a request gets it."""
{% if values.orm == 'sqlalchemy' %}
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        yield SqlProductRepository(session)
{% else %}
    unit = UnitOfWork(engine)
    try:
        yield SqlProductRepository(unit)
        await unit.commit()
    finally:
        await unit.close()
{% endif %}


def product(
    *,
    tenant_id: str = TENANT,
    created_at: datetime = START,
    status: ProductStatus = ProductStatus.DRAFT,
    price: Decimal = Decimal("9.99"),
    description: str | None = None,
    version: int = 1,
) -> Product:
    return Product(
        tenant_id=tenant_id,
        id=uuid4(),
        name="Widget",
        description=description,
        price=price,
        status=status,
        created_at=created_at,
        updated_at=created_at,
        version=version,
    )


async def add_all(engine: AsyncEngine, *products: Product) -> None:
    async with unit_of_work(engine) as repository:
        for item in products:
            await repository.add(item)


async def test_round_trip_is_exact(engine: AsyncEngine) -> None:
    # Another zone in, UTC out; microseconds, trailing zeros and the largest price survive.
    local_time = datetime(2026, 5, 6, 9, 8, 7, 654321, tzinfo=timezone(timedelta(hours=2)))
    stored = product(
        created_at=local_time,
        price=Decimal("9999999999.90"),
        description="d" * 2000,
        status=ProductStatus.ACTIVE,
    )
    await add_all(engine, stored)

    async with unit_of_work(engine) as repository:
        loaded = await repository.get(TENANT, stored.id)

    assert loaded == stored
    assert loaded is not None
    assert loaded.created_at.tzinfo is UTC
    assert str(loaded.price) == "9999999999.90"


async def test_add_existing_id_is_a_duplicate(engine: AsyncEngine) -> None:
    first = product()
    await add_all(engine, first)

    with pytest.raises(DuplicateProductError):
        await add_all(engine, dataclasses.replace(first, name="again"))


async def test_same_id_in_another_tenant_is_another_product(engine: AsyncEngine) -> None:
    mine = product()
    theirs = dataclasses.replace(mine, tenant_id="tenant-b", name="theirs")

    await add_all(engine, mine, theirs)

    async with unit_of_work(engine) as repository:
        assert await repository.get(TENANT, mine.id) == mine
        assert await repository.get("tenant-b", mine.id) == theirs


async def test_replace_checks_the_version(engine: AsyncEngine) -> None:
    original = product()
    await add_all(engine, original)
    changed = dataclasses.replace(original, name="v2", version=2)

    async with unit_of_work(engine) as repository:
        assert await repository.replace(changed) is True
    async with unit_of_work(engine) as repository:
        assert await repository.get(TENANT, original.id) == changed

    with pytest.raises(StaleProductError):
        async with unit_of_work(engine) as repository:
            await repository.replace(dataclasses.replace(original, name="late", version=2))


async def test_replace_missing_or_other_tenant_is_false(engine: AsyncEngine) -> None:
    original = product()
    await add_all(engine, original)

    async with unit_of_work(engine) as repository:
        assert await repository.replace(product(version=2)) is False
        other_tenant = dataclasses.replace(original, tenant_id="tenant-b", version=2)
        assert await repository.replace(other_tenant) is False


async def test_concurrent_replaces_one_wins(engine: AsyncEngine) -> None:
    original = product()
    await add_all(engine, original)

    async with unit_of_work(engine) as first, unit_of_work(engine) as second:
        read_by_first = await first.get(TENANT, original.id)
        read_by_second = await second.get(TENANT, original.id)
        assert read_by_first == read_by_second == original
        assert await first.replace(dataclasses.replace(original, name="a", version=2))
    with pytest.raises(StaleProductError):
        async with unit_of_work(engine) as late:
            await late.replace(dataclasses.replace(original, name="b", version=2))


async def test_delete_is_scoped_to_the_tenant(engine: AsyncEngine) -> None:
    stored = product()
    await add_all(engine, stored)

    async with unit_of_work(engine) as repository:
        assert await repository.delete("tenant-b", stored.id) is False
        assert await repository.delete(TENANT, stored.id) is True
        assert await repository.delete(TENANT, stored.id) is False
        assert await repository.get(TENANT, stored.id) is None


async def test_delete_with_a_version_checks_it(engine: AsyncEngine) -> None:
    stored = product()
    await add_all(engine, stored)

    with pytest.raises(StaleProductError):
        async with unit_of_work(engine) as repository:
            await repository.delete(TENANT, stored.id, version=2)
    async with unit_of_work(engine) as repository:
        assert await repository.get(TENANT, stored.id) == stored
        assert await repository.delete("tenant-b", stored.id, version=1) is False
        assert await repository.delete(TENANT, stored.id, version=1) is True
        assert await repository.delete(TENANT, stored.id, version=1) is False


async def list_ids(
    engine: AsyncEngine, *, page: int, page_size: int, status: ProductStatus | None = None
) -> tuple[list[UUID], int]:
    request = PageRequest(page=page, page_size=page_size, status=status)
    async with unit_of_work(engine) as repository:
        listed = await repository.list_page(TENANT, request)
    assert listed.request == request
    return [item.id for item in listed.items], listed.total


async def test_pages_follow_creation_order(engine: AsyncEngine) -> None:
    # Inserted out of order; two share a timestamp, a tie the ID breaks (in the backend's
    # order of UUIDs), the same way on every page.
    same_time = START + timedelta(seconds=1)
    tied = [product(created_at=same_time), product(created_at=same_time)]
    earliest = product(created_at=START)
    latest = product(created_at=START + timedelta(microseconds=1_000_001))
    await add_all(engine, latest, tied[1], earliest, tied[0])

    listed, total = await list_ids(engine, page=1, page_size=10)

    assert total == 4
    assert listed[0] == earliest.id
    assert set(listed[1:3]) == {item.id for item in tied}
    assert listed[3] == latest.id
    for index in range(4):
        assert await list_ids(engine, page=index + 1, page_size=1) == ([listed[index]], 4)
    assert await list_ids(engine, page=2, page_size=2) == (listed[2:], 4)
    assert await list_ids(engine, page=2, page_size=3) == (listed[3:], 4)
    assert await list_ids(engine, page=3, page_size=2) == ([], 4)
    assert await list_ids(engine, page=100, page_size=1) == ([], 4)


async def test_status_filter_applies_to_items_and_total(engine: AsyncEngine) -> None:
    active = [
        product(created_at=START + timedelta(seconds=n), status=ProductStatus.ACTIVE)
        for n in range(3)
    ]
    await add_all(engine, *active, product(), product(tenant_id="tenant-b"))

    ids, total = await list_ids(engine, page=2, page_size=1, status=ProductStatus.ACTIVE)

    assert (ids, total) == ([active[1].id], 3)
    assert await list_ids(engine, page=1, page_size=5, status=ProductStatus.DISCONTINUED) == (
        [],
        0,
    )
    assert (await list_ids(engine, page=1, page_size=10))[1] == 4
