"""Locally without a database URL the service runs on SQLite, migrated on start."""

import sqlite3
from collections.abc import Callable
from contextlib import closing

from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.main import create_app

BASE = "/api/v1/products"
TenantHeaders = Callable[[str], dict[str, str]]


def test_local_stand_in_is_migrated_sqlite(
    settings: Settings, tenant_headers: TenantHeaders
) -> None:
    assert settings.environment == "local"
    assert settings.database_url is None

    with TestClient(create_app(settings), headers=tenant_headers("t")) as client:
        created = client.post(BASE, json={"name": "Widget", "price": "19.90"}).json()
        changed = client.patch(f"{BASE}/{created['id']}", json={"status": "active"}).json()
        fetched = client.get(f"{BASE}/{created['id']}").json()
        listing = client.get(BASE).json()
        ready = client.get("/health/ready")

    assert fetched == changed
    assert fetched["price"] == "19.90"
    assert listing["total"] == 1
    assert ready.status_code == 200
    with closing(sqlite3.connect("local.sqlite3")) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"products", "alembic_version"} <= tables
    assert revision
