"""Alembic environment: migrations run with the service's settings and schema metadata.

Import every module that defines tables or models below, so ``alembic revision
--autogenerate`` sees them. The service itself (local SQLite stand-in, tests) runs the
migrations over its own connection, passed in ``config.attributes["connection"]``.
"""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.db.iam import attach_iam_auth
from ${{ values.packageName }}.db.metadata import metadata

# Modules that define tables, imported so that their tables register in ``metadata``.
{% if values.events == 'redis-streams' %}
from ${{ values.packageName }}.events import outbox_sql  # noqa: F401
{% endif %}
{% if values.orm == 'sqlalchemy' %}
from ${{ values.packageName }}.products import orm  # noqa: F401
{% else %}
from ${{ values.packageName }}.products import table  # noqa: F401
{% endif %}

target_metadata = metadata


def database_url(settings: Settings) -> str:
    """The URL the service itself uses; migrations need a real database."""
    url = settings.database_url
    if url is None:
        variable = "${{ values.envPrefix }}DATABASE_URL"
        raise SystemExit(f"{variable} is not set: migrations need the database to migrate")
    return url.get_secret_value()


def run_migrations_offline() -> None:
    """Write the SQL of the migrations to standard output instead of running it."""
    context.configure(
        url=database_url(Settings()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    """Run the migrations over one connection of a short-lived async engine (no statement
    timeout: schema changes may take long)."""
    settings = Settings()
    engine = create_async_engine(database_url(settings), poolclass=pool.NullPool)
    if settings.database_iam_auth:
        attach_iam_auth(engine, engine.url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := context.config.attributes.get("connection")) is not None:
    run_migrations(connection)
else:
    asyncio.run(run_migrations_online())
