"""The Alembic migrations on the real database server: down to nothing and back up, and the
schema they build is the one the code expects."""

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ${{ values.packageName }}.db.metadata import metadata
from ${{ values.packageName }}.db.migrations import alembic_config, upgrade_to_head
{% if values.events == 'redis-streams' %}
from ${{ values.packageName }}.events import outbox_sql  # noqa: F401 (registers the table)
{% endif %}
{% if values.orm == 'sqlalchemy' %}
from ${{ values.packageName }}.products import orm  # noqa: F401 (registers the table)
{% else %}
from ${{ values.packageName }}.products import table  # noqa: F401 (registers the table)
{% endif %}

pytestmark = pytest.mark.database


def tables_and_indexes(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {
        name: {index["name"] or "" for index in inspector.get_indexes(name)}
        for name in inspector.get_table_names()
    }


def downgrade_to_base(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "base")


def test_downgrade_and_upgrade(empty_database: str) -> None:
    async def migrate_down_and_up() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        engine = create_async_engine(make_url(empty_database), poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(downgrade_to_base)
                down = await connection.run_sync(tables_and_indexes)
            await upgrade_to_head(engine)
            async with engine.connect() as connection:
                up = await connection.run_sync(tables_and_indexes)
        finally:
            await engine.dispose()
        return down, up

    down, up = asyncio.run(migrate_down_and_up())

    assert "products" not in down
    assert {"ix_products_tenant_created", "ix_products_tenant_status_created"} <= up["products"]
{% if values.events == 'redis-streams' %}
    assert "event_outbox" not in down
    assert "event_outbox" in up
{% endif %}


def test_schema_matches_the_code(empty_database: str) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, metadata))

    async def compare() -> list[object]:
        engine = create_async_engine(make_url(empty_database), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(differences)
        finally:
            await engine.dispose()

    assert asyncio.run(compare()) == []
