"""Database outages answer 503 with ``Retry-After``, never 500: an unreachable server, a
full pool, and a writer that an Aurora failover has demoted to a read-only replica."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import ClassVar

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ..core.errors import ServiceUnavailable
from .database import Database

logger = structlog.get_logger(__name__)

# Aurora promotes a replica within about 30 s; DNS of the cluster endpoint follows in ~5 s.
RETRY_AFTER_SECONDS = 5
# A full pool frees a connection with every request it finishes: retry at once (the header's
# smallest value).
POOL_FULL_RETRY_AFTER_SECONDS = 1
{% if values.database == 'aurora-postgresql' %}
# PostgreSQL's read_only_sql_transaction.
PG_READ_ONLY = "25006"
{% else %}
# MySQL: 1290 is "running with the --read-only (or --innodb-read-only) option", 1836
# "running in read-only mode".
MYSQL_READ_ONLY = frozenset({1290, 1836})
{% endif %}


class DatabaseUnavailable(ServiceUnavailable):
    """503 with ``Retry-After``: the outage is expected to pass."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class DatabaseBusy(DatabaseUnavailable):
    """503: every pooled connection stayed busy for ``DATABASE_POOL_TIMEOUT_SECONDS``."""

    headers: ClassVar[dict[str, str]] = {"Retry-After": str(POOL_FULL_RETRY_AFTER_SECONDS)}


def is_read_only_error(error: BaseException) -> bool:
    """The server refused a write because it is (now) a read-only replica."""
    if not isinstance(error, DBAPIError):
        return False
    driver_error = error.orig
{% if values.database == 'aurora-postgresql' %}
    return getattr(driver_error, "sqlstate", None) == PG_READ_ONLY
{% else %}
    args: tuple[object, ...] = getattr(driver_error, "args", ())
    return bool(args) and args[0] in MYSQL_READ_ONLY and "read-only" in str(args[-1]).lower()
{% endif %}


def is_connection_error(error: BaseException) -> bool:
    """The database cannot be reached or dropped the connection."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
{% if values.database == 'aurora-postgresql' %}
    # asyncpg raises OSError itself (not a DBAPI error) when it cannot connect.
{% else %}
    # A driver may raise OSError itself (not a DBAPI error) when it cannot connect.
{% endif %}
    return isinstance(error, OSError)


@asynccontextmanager
async def unavailable_on_outage(database: Database) -> AsyncIterator[None]:
    """Turn outages raised inside into ``DatabaseUnavailable``; after a failover, also close
    the writer's pooled connections, which still lead to the demoted instance."""
    try:
        yield
    except Exception as error:
        if is_read_only_error(error):
            logger.warning("the writer is read-only (failover): closing its pooled connections")
            await database.writer.dispose()
            raise DatabaseUnavailable("The database is failing over; retry shortly.") from error
        if isinstance(error, PoolTimeoutError):
            raise DatabaseBusy("Every database connection is busy; retry shortly.") from error
        if is_connection_error(error):
            logger.warning("database unreachable", error=type(error).__name__)
            raise DatabaseUnavailable("The database cannot be reached; retry shortly.") from error
        raise
