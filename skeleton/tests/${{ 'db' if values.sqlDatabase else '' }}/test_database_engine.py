"""Engine settings: the pool size and the connection budget checked at start-up, timeouts
applied by the server, and reads routed to the reader endpoint."""

{% if values.database == 'aurora-postgresql' and values.events == 'redis-streams' %}
import asyncio
import time
{% endif %}
from collections.abc import Callable
{% if values.database == 'aurora-postgresql' %}
from typing import Any
{% endif %}

{% if values.database == 'aurora-postgresql' %}
import asyncpg  # type: ignore[import-untyped]
{% endif %}
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
{% if values.database == 'aurora-postgresql' and values.events == 'redis-streams' %}
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
{% endif %}

from ${{ values.packageName }}.core.config import ENV_PREFIX, Settings, SettingsError
from ${{ values.packageName }}.db.connection_budget import (
    DERIVED_POOL_SIZE_LIMIT,
    pool_size_within_budget,
)
from ${{ values.packageName }}.db.engine import create_engine
from ${{ values.packageName }}.deps import services_of
from ${{ values.packageName }}.main import create_app

TenantHeaders = Callable[[str], dict[str, str]]
BASE = "/api/v1/products"


@pytest.mark.parametrize(
    ("workers", "reader", "expected"),
    [
{% if values.events == 'redis-streams' %}
        (1, False, DERIVED_POOL_SIZE_LIMIT),  # the budget allows 99: the limit
        (8, False, 11),  # 100 // 8 - 1 relay connection
        (4, True, 12),  # (100 // 4 - 1 relay connection) // 2 pools
{% else %}
        (1, False, DERIVED_POOL_SIZE_LIMIT),  # the budget allows 100: the limit
        (8, False, 12),  # 100 // 8
        (4, True, 12),  # 100 // (4 x 2 pools)
{% endif %}
    ],
)
def test_unset_pool_size_is_the_budget_share_up_to_the_limit(
    make_settings: Callable[..., Settings], workers: int, reader: bool, expected: int
) -> None:
    reader_url = SecretStr("reader endpoint") if reader else None
    settings = make_settings(database_max_connections=100, database_reader_url=reader_url)

    assert pool_size_within_budget(settings, workers) == expected


def test_budget_allows_an_explicit_size_that_fits(make_settings: Callable[..., Settings]) -> None:
{% if values.events == 'redis-streams' %}
    settings = make_settings(database_pool_size=10, database_max_connections=22)
{% else %}
    settings = make_settings(database_pool_size=10, database_max_connections=20)
{% endif %}

    assert pool_size_within_budget(settings, workers=2) == 10
{% if values.events == 'redis-streams' %}


def test_budget_counts_the_outbox_relay_connection_of_each_process(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(database_pool_size=10, database_max_connections=21)

    with pytest.raises(SettingsError) as raised:
        pool_size_within_budget(settings, workers=2)

    assert str(raised.value) == (
        f"WEB_CONCURRENCY (2) x (1 pool(s) per process x {ENV_PREFIX}DATABASE_POOL_SIZE (10) "
        f"+ 1 outbox relay connection) = 22 connections, more than "
        f"{ENV_PREFIX}DATABASE_MAX_CONNECTIONS (21)"
    )
{% endif %}


def test_budget_refuses_too_many_connections(make_settings: Callable[..., Settings]) -> None:
    reader_url = SecretStr("reader endpoint")
    settings = make_settings(
        database_pool_size=10, database_max_connections=50, database_reader_url=reader_url
    )

    with pytest.raises(SettingsError) as raised:
        pool_size_within_budget(settings, workers=3)

{% if values.events == 'redis-streams' %}
    assert str(raised.value) == (
        f"WEB_CONCURRENCY (3) x (2 pool(s) per process x {ENV_PREFIX}DATABASE_POOL_SIZE (10) "
        f"+ 1 outbox relay connection) = 63 connections, more than "
        f"{ENV_PREFIX}DATABASE_MAX_CONNECTIONS (50)"
    )
{% else %}
    assert str(raised.value) == (
        f"WEB_CONCURRENCY (3) x 2 pool(s) per process x {ENV_PREFIX}DATABASE_POOL_SIZE (10) "
        f"= 60 connections, more than {ENV_PREFIX}DATABASE_MAX_CONNECTIONS (50)"
    )
{% endif %}


def test_budget_refuses_less_than_one_connection_per_pool(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(database_max_connections=3)

    with pytest.raises(SettingsError) as raised:
        pool_size_within_budget(settings, workers=4)

{% if values.events == 'redis-streams' %}
    assert str(raised.value) == (
        "WEB_CONCURRENCY (4) x (1 pool(s) per process x 1 connection + 1 outbox relay "
        f"connection) = 8 connections, more than {ENV_PREFIX}DATABASE_MAX_CONNECTIONS (3)"
    )
{% else %}
    assert str(raised.value) == (
        "WEB_CONCURRENCY (4) x 1 pool(s) per process x 1 connection = 4 connections, more "
        f"than {ENV_PREFIX}DATABASE_MAX_CONNECTIONS (3)"
    )
{% endif %}


def test_start_up_fails_over_budget(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    app = create_app(make_settings(database_pool_size=20, database_max_connections=50))

    with pytest.raises(SettingsError, match="WEB_CONCURRENCY"), TestClient(app):
        pass


@pytest.mark.database
@pytest.mark.anyio
async def test_server_applies_the_statement_timeout(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_statement_timeout_seconds=2.5)
    engine = create_engine(database_url, settings, pool_size=1)
    try:
        async with engine.connect() as connection:
{% if values.database == 'aurora-postgresql' %}
            timeout = await connection.scalar(text("SHOW statement_timeout"))
        assert timeout == "2500ms"
{% else %}
            maria = engine.dialect.is_mariadb  # type: ignore[attr-defined]
            variable = "max_statement_time" if maria else "max_execution_time"
            timeout = await connection.scalar(text(f"SELECT @@SESSION.{variable}"))
        assert float(timeout) == (2.5 if maria else 2500)
{% endif %}
    finally:
        await engine.dispose()


@pytest.mark.database
def test_reads_use_the_reader_endpoint(
    settings: Settings, empty_database: str, tenant_headers: TenantHeaders
) -> None:
    url = SecretStr(empty_database)
    app = create_app(settings.model_copy(update={"database_url": url, "database_reader_url": url}))

    with TestClient(app, headers=tenant_headers("t")) as client:
        database = services_of(app).database
        created = client.post(BASE, json={"name": "x", "price": "1.00"}).json()
        fetched = client.get(f"{BASE}/{created['id']}").json()
        checks = client.get("/health/ready").json()["checks"]

    assert fetched == created
    assert database.reader is not None
    assert database.engine_for("GET").pool is database.reader.pool
    assert database.engine_for("PATCH") is database.writer
    assert checks["database-reader"]["critical"] is False
{% if values.database == 'aurora-postgresql' %}


{% if values.events == 'redis-streams' %}
def wait_until_the_outbox_is_empty(database_url: str) -> None:
    async def unsent() -> int:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.scalar(text("SELECT count(*) FROM event_outbox")) or 0
        finally:
            await engine.dispose()

    deadline = time.monotonic() + 5
    while asyncio.run(unsent()):
        assert time.monotonic() < deadline, "the relay sent nothing"
        time.sleep(0.01)


{% endif %}
@pytest.mark.database
def test_reads_run_without_begin_and_commit(
    settings: Settings,
    empty_database: str,
    monkeypatch: pytest.MonkeyPatch,
    tenant_headers: TenantHeaders,
) -> None:
    """A GET is one round trip: asyncpg would send BEGIN and COMMIT around it otherwise."""
    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def recording_execute(self: Any, query: str, *args: Any) -> str:
        sent.append(query.strip().rstrip(";").upper())
        status: str = await execute(self, query, *args)
        return status

    monkeypatch.setattr(asyncpg.Connection, "execute", recording_execute)
{% if values.events == 'redis-streams' %}
    # The outbox relay has its own transactions: it sends the event before the reads are
    # recorded, and does not poll again during the test.
    app = create_app(
        settings.model_copy(
            update={
                "database_url": SecretStr(empty_database),
                "events_relay_interval_seconds": 60.0,
            }
        )
    )
{% else %}
    app = create_app(settings.model_copy(update={"database_url": SecretStr(empty_database)}))
{% endif %}

    with TestClient(app, headers=tenant_headers("t")) as client:
        created = client.post(BASE, json={"name": "x", "price": "1.00"}).json()
        after_create = list(sent)
{% if values.events == 'redis-streams' %}
        wait_until_the_outbox_is_empty(empty_database)
{% endif %}
        sent.clear()
        assert client.get(f"{BASE}/{created['id']}").status_code == 200
        assert client.get(BASE).status_code == 200

    assert "BEGIN" in after_create  # the write has its transaction
    assert "COMMIT" in after_create
    assert sent == []
{% endif %}
