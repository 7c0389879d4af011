"""An async engine: its connection pool and timeouts. No connection is made until the first
query."""

import asyncio
from typing import Any

{% if values.database == 'aurora-mysql' %}
from sqlalchemy import event
{% endif %}
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only

from .iam import attach_iam_auth
from .settings import DatabaseSettings


def connect_args(url: URL, settings: DatabaseSettings) -> dict[str, Any]:
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


class FirstComeFirstServedPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's pool behind an admission semaphore of its size. With every connection
    busy, the pool's own queue hands a returned connection to whichever request asks first,
    often one that just arrived, and sends the waiter it woke to the back of the line: under
    load some requests time out (503) while the pool could have served them in time. The
    semaphore admits waiting requests in order of arrival."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admission = asyncio.Semaphore(self.size())

    async def _admit(self) -> None:
        async with asyncio.timeout(self._timeout):
            await self._admission.acquire()

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            await_only(self._admit())
        except TimeoutError:
            raise PoolTimeoutError(
                f"all {self.size()} connections busy for {self._timeout} s"
            ) from None
        try:
            return super()._do_get()
        except BaseException:
            self._admission.release()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._admission.release()


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
def create_engine(
    url: str, settings: DatabaseSettings, *, pool_size: int, iam_auth: bool = False
) -> AsyncEngine:
    """``pool_size`` connections at most (``db.connection_budget``): a request that finds them
    all busy waits up to ``DATABASE_POOL_TIMEOUT_SECONDS``, then fails (503)."""
    parsed = make_url(url)
    engine = create_async_engine(
        parsed,
        poolclass=FirstComeFirstServedPool,
        pool_size=pool_size,
        max_overflow=0,
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
