"""Outages answer 503 with Retry-After through the error envelope, never 500: a writer that a
failover made read-only (and whose pooled connections are then dropped) and a server that
cannot be reached."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import make_url

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.db.outage import RETRY_AFTER_SECONDS
from ${{ values.packageName }}.deps import services_of
from ${{ values.packageName }}.main import create_app

pytestmark = pytest.mark.database

TenantHeaders = Callable[[str], dict[str, str]]
BASE = "/api/v1/products"


@pytest.fixture
def read_only_database(empty_database: str, run_sql: Callable[..., None]) -> Iterator[str]:
    """The test database refusing writes as a demoted Aurora writer does."""
{% if values.database == 'aurora-postgresql' %}
    # New sessions of this database only start read-only transactions (SQLSTATE 25006).
    name = make_url(empty_database).database
    run_sql(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    try:
        yield empty_database
    finally:
        run_sql(
            "SET default_transaction_read_only = off",
            f"ALTER DATABASE {name} RESET default_transaction_read_only",
        )
{% else %}
    # read_only is server-wide (and the server is shared): a trigger raises the error that
    # Aurora's demoted writer does (1290).
    run_sql(
        "CREATE TRIGGER products_read_only BEFORE INSERT ON products FOR EACH ROW "
        "SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1290, MESSAGE_TEXT = "
        "'The MySQL server is running with the --read-only option so it cannot execute "
        "this statement'"
    )
    try:
        yield empty_database
    finally:
        run_sql("DROP TRIGGER products_read_only")
{% endif %}


def client_of(settings: Settings, database_url: str, headers: dict[str, str]) -> TestClient:
    app = create_app(settings.model_copy(update={"database_url": SecretStr(database_url)}))
    return TestClient(app, raise_server_exceptions=False, headers=headers)


def test_read_only_writer_is_503_and_drops_the_pool(
    settings: Settings, read_only_database: str, tenant_headers: TenantHeaders
) -> None:
    with client_of(settings, read_only_database, tenant_headers("t")) as client:
        database = services_of(client.app).database  # type: ignore[arg-type]
        pool = database.writer.pool

        response = client.post(BASE, json={"name": "x", "price": "1"})

        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert response.json()["error"] == "SERVICE_UNAVAILABLE"
        assert response.json()["correlation_id"] == response.headers["X-Correlation-ID"]
        assert database.writer.pool is not pool
        assert client.get(BASE).status_code == 200


def test_unreachable_database_is_503(
    make_settings: Callable[..., Settings], database_url: str, tenant_headers: TenantHeaders
) -> None:
    closed_port = make_url(database_url).set(port=1).render_as_string(hide_password=False)
    settings = make_settings(database_connect_timeout_seconds=1.0)

    with client_of(settings, closed_port, tenant_headers("t")) as client:
        listing = client.get(BASE)
        created = client.post(BASE, json={"name": "x", "price": "1"})
        ready = client.get("/health/ready")

    for response in (listing, created):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert response.json()["error"] == "SERVICE_UNAVAILABLE"
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"]["status"] == "failed"
