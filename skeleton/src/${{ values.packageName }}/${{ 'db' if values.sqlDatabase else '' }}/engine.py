"""The async engines: one connection pool per process for the Aurora writer, and one for the
reader endpoint when it is configured; opened and closed with the app."""

import functools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

import structlog
{% if values.database == 'aurora-mysql' %}
from sqlalchemy import event, text
{% else %}
from sqlalchemy import text
{% endif %}
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
{% if values.database == 'aurora-mysql' %}
from sqlalchemy.pool import ConnectionPoolEntry
{% endif %}

from ..core.config import ENV_PREFIX, SettingsError
from ..core.health import HealthRegistry
from .iam import attach_iam_auth
from .settings import DatabaseSettings

logger = structlog.stdlib.get_logger(__name__)

# The local stand-in: a file in the working directory, so data survives restarts of `make dev`.
LOCAL_DATABASE_URL = "sqlite+aiosqlite:///local.sqlite3"
# Requests that only read; they may be served by the reader endpoint.
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Database:
    writer: AsyncEngine
    reader: AsyncEngine | None = None
    # The engine of requests that only read: see ``for_reads``.
    reads: AsyncEngine = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads", for_reads(self.reader or self.writer))

    def engine_for(self, method: str) -> AsyncEngine:
        """The reader for requests that only read, when there is one; the writer otherwise,
        so a read-modify-write (PATCH) never reads from a lagging replica."""
        return self.reads if method in READ_ONLY_METHODS else self.writer

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not None:
            await self.reader.dispose()


{% if values.database == 'aurora-postgresql' %}
def for_reads(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` (same pool) for requests that only read. On PostgreSQL they run without a
    transaction of their own: under its READ COMMITTED every statement sees a fresh snapshot
    anyway, and BEGIN and COMMIT would be two more round trips per request. asyncpg switches
    to autocommit without a round trip."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine
{% else %}
def for_reads(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` (same pool) for requests that only read. They keep their transactions:
    MySQL drivers would send SET autocommit on checkout and again on return, which costs
    more than the COMMIT it saves."""
    return engine
{% endif %}


def uvicorn_workers() -> int:
    """uvicorn's worker processes: ``WEB_CONCURRENCY``, read as uvicorn itself reads it."""
    value = os.environ.get("WEB_CONCURRENCY", "1")
    try:
        return max(int(value), 1)
    except ValueError:
        raise SettingsError(f"WEB_CONCURRENCY must be a whole number, not {value!r}") from None


def check_connection_budget(settings: DatabaseSettings, workers: int) -> None:
    """Each worker process has its own pool: refuse to start if together they could open
    more connections than this pod's share of the database's ``max_connections``."""
    per_worker = settings.database_pool_size + settings.database_max_overflow
    if workers * per_worker > settings.database_max_connections:
        raise SettingsError(
            f"WEB_CONCURRENCY ({workers}) x ({ENV_PREFIX}DATABASE_POOL_SIZE "
            f"({settings.database_pool_size}) + {ENV_PREFIX}DATABASE_MAX_OVERFLOW "
            f"({settings.database_max_overflow})) = {workers * per_worker} connections, more "
            f"than {ENV_PREFIX}DATABASE_MAX_CONNECTIONS ({settings.database_max_connections})"
        )


def connect_args(url: URL, settings: DatabaseSettings) -> dict[str, Any]:
    """The connect and statement timeouts, in each driver's terms."""
{% if values.database == 'aurora-postgresql' %}
    if url.get_backend_name() != "postgresql":
        return {}
    statement_timeout = settings.database_statement_timeout_seconds
    return {
        "timeout": settings.database_connect_timeout_seconds,
        # The server cancels the statement; the client-side limit, a little longer, only
        # matters when the server stops answering altogether.
        "server_settings": {"statement_timeout": str(round(statement_timeout * 1000))},
        "command_timeout": statement_timeout + 1,
    }
{% else %}
    if url.get_backend_name() != "mysql":
        return {}
    return {"connect_timeout": settings.database_connect_timeout_seconds}
{% endif %}


{% if values.database == 'aurora-mysql' %}
def limit_mysql_statement_time(engine: AsyncEngine, seconds: float) -> None:
    """Set the statement time limit on every new connection: MySQL (Aurora) calls it
    ``max_execution_time`` (milliseconds, SELECTs only), MariaDB ``max_statement_time``."""

    @event.listens_for(engine.sync_engine, "connect")
    def set_limit(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Only MySQL dialects have the flag; importing their module would slow every start.
        if getattr(engine.dialect, "is_mariadb", False):
            statement = f"SET SESSION max_statement_time = {seconds}"
        else:
            statement = f"SET SESSION max_execution_time = {round(seconds * 1000)}"
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()


{% endif %}
def create_engine(url: str, settings: DatabaseSettings, *, iam_auth: bool = False) -> AsyncEngine:
    """Create an engine with the pool and timeouts of ``settings``; no connection is made
    until the first query."""
    parsed = make_url(url)
    engine = create_async_engine(
        parsed,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        pool_recycle=settings.database_pool_recycle_seconds,
        # See DATABASE_POOL_PRE_PING: a round trip per checkout, or one failed request (503)
        # after a failover, when the pool replaces all of its connections.
        pool_pre_ping=settings.database_pool_pre_ping,
        connect_args=connect_args(parsed, settings),
    )
{% if values.database == 'aurora-mysql' %}
    if parsed.get_backend_name() == "mysql":
        limit_mysql_statement_time(engine, settings.database_statement_timeout_seconds)
{% endif %}
    if iam_auth:
        attach_iam_auth(engine, parsed)
    return engine


async def open_local_database(settings: DatabaseSettings) -> AsyncEngine:
    """The SQLite stand-in of local work, migrated to the latest schema."""
    if find_spec("aiosqlite") is None:
        raise SettingsError(
            f"{ENV_PREFIX}DATABASE_URL is not set, so the service would use its local SQLite "
            "stand-in, but aiosqlite (a dev dependency) is not installed: run `uv sync`, or "
            f"set {ENV_PREFIX}DATABASE_URL"
        )
    # Imported here: Alembic is only needed by the stand-in, and deployed processes start
    # faster without it.
    from .migrations import upgrade_to_head

    engine = create_engine(LOCAL_DATABASE_URL, settings)
    try:
        await upgrade_to_head(engine)
    except BaseException:
        await engine.dispose()
        raise
    logger.info("no database configured: using the SQLite stand-in", path="local.sqlite3")
    return engine


async def open_database(settings: DatabaseSettings) -> Database:
    if settings.database_url is None:  # Only locally: the settings refuse it elsewhere.
        return Database(await open_local_database(settings))
    iam_auth = settings.database_iam_auth
    writer = create_engine(settings.database_url.get_secret_value(), settings, iam_auth=iam_auth)
    if settings.database_reader_url is None:
        return Database(writer)
    reader_url = settings.database_reader_url.get_secret_value()
    return Database(writer, create_engine(reader_url, settings, iam_auth=iam_auth))


async def ping(engine: AsyncEngine) -> None:
    """Readiness check: one round trip to the database."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@asynccontextmanager
async def database_lifespan(
    settings: DatabaseSettings, health: HealthRegistry
) -> AsyncIterator[Database]:
    """The engines while the app runs, with their readiness checks: the writer is critical,
    the reader (reads only) is not."""
    check_connection_budget(settings, uvicorn_workers())
    database = await open_database(settings)
    health.register("database", functools.partial(ping, database.writer), critical=True)
    if database.reader is not None:
        health.register("database-reader", functools.partial(ping, database.reader), critical=False)
    try:
        yield database
    finally:
        health.unregister("database")
        health.unregister("database-reader")
        await database.dispose()
