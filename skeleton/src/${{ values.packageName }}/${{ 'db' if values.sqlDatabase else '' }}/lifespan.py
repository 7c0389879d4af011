"""The engines while the app runs, with their readiness checks: the writer is critical, the
reader (reads only) is not."""

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..core.health import HealthRegistry
{% if values.opentelemetry %}
from ..core.tracing import traced_sql
{% endif %}
from .connection_budget import pool_size_within_budget, uvicorn_workers
from .database import Database
from .engine import create_engine
from .local import open_local_database
from .settings import DatabaseSettings


async def open_database(settings: DatabaseSettings, pool_size: int) -> Database:
    if settings.database_url is None:  # Only locally: the settings refuse it elsewhere.
        return Database(await open_local_database(settings, pool_size))
    iam_auth = settings.database_iam_auth
    writer_url = settings.database_url.get_secret_value()
    writer = create_engine(writer_url, settings, pool_size=pool_size, iam_auth=iam_auth)
    if settings.database_reader_url is None:
        return Database(writer)
    reader_url = settings.database_reader_url.get_secret_value()
    reader = create_engine(reader_url, settings, pool_size=pool_size, iam_auth=iam_auth)
    return Database(writer, reader)


async def ping(engine: AsyncEngine) -> None:
    """Passes when every pooled connection is busy: the requests holding them are answered
    (a statement is cancelled within DATABASE_STATEMENT_TIMEOUT_SECONDS), and failing would
    take the pod out of the load balancer when it is needed most."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except PoolTimeoutError:
        return


@asynccontextmanager
async def database_lifespan(
    settings: DatabaseSettings, health: HealthRegistry
) -> AsyncIterator[Database]:
    pool_size = pool_size_within_budget(settings, uvicorn_workers())
    database = await open_database(settings, pool_size)
    health.register("database", functools.partial(ping, database.writer), critical=True)
    if database.reader is not None:
        health.register("database-reader", functools.partial(ping, database.reader), critical=False)
    try:
{% if values.opentelemetry %}
        engines = [engine for engine in (database.writer, database.reader) if engine is not None]
        with traced_sql(engines):
            yield database
{% else %}
        yield database
{% endif %}
    finally:
        health.unregister("database")
        health.unregister("database-reader")
        await database.dispose()
