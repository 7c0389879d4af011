"""The pool under more concurrent requests than it has connections, on the real server: it
opens exactly its size, serves waiting requests in order of arrival, and a request that waits
longer than DATABASE_POOL_TIMEOUT_SECONDS answers 503 with a short Retry-After, while
readiness stays 200."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.db.engine import create_engine
from ${{ values.packageName }}.db.outage import POOL_FULL_RETRY_AFTER_SECONDS
from ${{ values.packageName }}.deps import services_of
from ${{ values.packageName }}.main import create_app

pytestmark = pytest.mark.database

TenantHeaders = Callable[[str], dict[str, str]]
BASE = "/api/v1/products"
POOL_SIZE = 3
{% if values.database == 'aurora-postgresql' %}
HOLD = text("SELECT pg_sleep(0.05)")
{% else %}
HOLD = text("SELECT SLEEP(0.05)")
{% endif %}


@pytest.fixture
async def engine(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[AsyncEngine]:
    settings = make_settings(database_pool_timeout_seconds=5.0)
    engine = create_engine(database_url, settings, pool_size=POOL_SIZE)
    yield engine
    await engine.dispose()


@pytest.mark.anyio
async def test_more_requests_than_connections_open_only_the_pool(engine: AsyncEngine) -> None:
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda connection, _record: opened.append(1))

    async def request() -> None:
        async with engine.connect() as connection:
            await connection.execute(HOLD)

    for _ in range(2):  # the second wave reuses the first one's connections
        await asyncio.gather(*(request() for _ in range(8 * POOL_SIZE)))

    assert len(opened) == POOL_SIZE


@pytest.mark.anyio
async def test_waiting_requests_get_connections_in_order_of_arrival(engine: AsyncEngine) -> None:
    """A request that arrives as a connection is returned waits behind those already waiting
    (SQLAlchemy's own queue would give it the connection)."""
    held = [await engine.connect() for _ in range(POOL_SIZE)]
    served: list[str] = []

    async def request(name: str) -> None:
        async with engine.connect():
            served.append(name)

    late: list[asyncio.Task[None]] = []

    def arrive_as_a_connection_returns(_connection: Any, _record: Any) -> None:
        late.append(asyncio.get_running_loop().create_task(request("arrived late")))

    waiting = asyncio.create_task(request("waiting"))
    await asyncio.sleep(0.1)  # it is waiting for a connection
    event.listen(engine.sync_engine, "checkin", arrive_as_a_connection_returns, once=True)
    await held.pop().close()
    await asyncio.gather(waiting, *late)
    for connection in held:
        await connection.close()

    assert served == ["waiting", "arrived late"]


def test_full_pool_is_503_with_retry_after_within_the_pool_timeout(
    make_settings: Callable[..., Settings], empty_database: str, tenant_headers: TenantHeaders
) -> None:
    timeout = 0.3
    settings = make_settings(
        database_url=SecretStr(empty_database),
        database_pool_size=1,
        database_pool_timeout_seconds=timeout,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False, headers=tenant_headers("t")) as client:
        writer = services_of(app).database.writer

        async def take_the_only_connection() -> AsyncConnection:
            return await writer.connect()

        held = client.portal.call(take_the_only_connection)  # type: ignore[union-attr]
        started = time.monotonic()
        refused = client.get(BASE)
        waited = time.monotonic() - started
        ready_while_full = client.get("/health/ready")
        client.portal.call(held.close)  # type: ignore[union-attr]
        served = client.get(BASE)

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == str(POOL_FULL_RETRY_AFTER_SECONDS)
    assert refused.json()["error"] == "SERVICE_UNAVAILABLE"
    assert timeout <= waited < timeout + 0.5
    assert ready_while_full.status_code == 200  # busy, not down: the pod keeps its traffic
    assert served.status_code == 200
