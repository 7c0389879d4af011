"""The DynamoDB client of the app: settings, outages, readiness, the table command and the
local stand-in."""

import json
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.errors import ServiceUnavailable
from ${{ values.packageName }}.deps import services_of
from ${{ values.packageName }}.dynamodb.__main__ import main
from ${{ values.packageName }}.dynamodb.client import unavailable_on_dynamodb_errors
from ${{ values.packageName }}.dynamodb.local import MotoMissingError
from ${{ values.packageName }}.main import create_app

BASE = "/api/v1/products"
SetEnv = Callable[[str, str], None]
TenantHeaders = Callable[[str], dict[str, str]]


def running(settings: Settings, headers: dict[str, str]) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False, headers=headers)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


def test_client_timeouts_and_retries_come_from_the_settings(
    make_settings: Callable[..., Settings],
    tenant_headers: TenantHeaders,
) -> None:
    settings = make_settings(
        dynamodb_connect_timeout_seconds=0.5,
        dynamodb_read_timeout_seconds=1.5,
        dynamodb_max_attempts=4,
        dynamodb_retry_mode="adaptive",
    )

    with running(settings, tenant_headers("t")) as client:
        table = services_of(client.app).dynamodb_table  # type: ignore[arg-type]
        # Any: botocore's stubs do not declare the timeouts and retries of a Config.
        config: Any = table.meta.client.meta.config

    assert (config.connect_timeout, config.read_timeout) == (0.5, 1.5)
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 4}


def test_unreachable_dynamodb_is_503_and_not_ready_but_alive(
    make_settings: Callable[..., Settings], closed_port: int, tenant_headers: TenantHeaders
) -> None:
    settings = make_settings(
        dynamodb_endpoint_url=f"http://127.0.0.1:{closed_port}",
        dynamodb_connect_timeout_seconds=0.2,
        dynamodb_max_attempts=1,
    )

    with running(settings, tenant_headers("t")) as client:
        created = client.post(BASE, json={"name": "x", "price": "1"})
        listed = client.get(BASE)
        ready = client.get("/health/ready")
        live = client.get("/health/live")

    for response in (created, listed):
        assert response.status_code == 503
        assert response.json()["error"] == "SERVICE_UNAVAILABLE"
        assert response.json()["correlation_id"] == response.headers["X-Correlation-ID"]
    assert ready.status_code == 503
    assert ready.json()["checks"]["dynamodb"]["status"] == "failed"
    assert live.status_code == 200


def test_missing_table_makes_the_service_not_ready(
    make_settings: Callable[..., Settings],
    tenant_headers: TenantHeaders,
) -> None:
    with running(make_settings(dynamodb_table="no-such-table"), tenant_headers("t")) as client:
        ready = client.get("/health/ready")
        listed = client.get(BASE)

    assert ready.status_code == 503
    assert listed.status_code == 503


def test_ready_with_the_table(client: TestClient) -> None:
    ready = client.get("/health/ready")

    assert ready.status_code == 200
    assert ready.json()["checks"]["dynamodb"]["status"] == "ok"


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_throttling_left_after_the_retries_is_unavailable(code: str) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "slow down"}}, "Query")

    with pytest.raises(ServiceUnavailable), unavailable_on_dynamodb_errors():
        raise error


def test_table_definition_command(capsys: pytest.CaptureFixture[str], base_env: SetEnv) -> None:
    main(["definition"])

    definition = json.loads(capsys.readouterr().out)
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert [key["AttributeName"] for key in definition["KeySchema"]] == ["tenant_id", "id"]
    assert definition["GlobalSecondaryIndexes"][0]["IndexName"] == "by_status"


def test_create_table_command_is_idempotent(
    base_env: SetEnv, make_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
    base_env("DYNAMODB_TABLE", f"created-{uuid4().hex}")
    main(["create-table"])
    main(["create-table"])

    with running(make_settings(), tenant_headers("t")) as client:
        assert client.get("/health/ready").status_code == 200
        assert client.post(BASE, json={"name": "x", "price": "1"}).status_code == 201


@pytest.fixture
def without_endpoint(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """Local settings without an endpoint, and no AWS credentials anywhere."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    return settings.model_copy(update={"dynamodb_endpoint_url": None})


def test_local_stand_in_serves_products(
    without_endpoint: Settings, dynamodb_endpoint: str, tenant_headers: TenantHeaders
) -> None:
    with running(without_endpoint, tenant_headers("t")) as client:
        table = services_of(client.app).dynamodb_table  # type: ignore[arg-type]
        endpoint = table.meta.client.meta.endpoint_url
        product = client.post(BASE, json={"name": "x", "price": "1.50"}).json()
        url = f"{BASE}/{product['id']}"
        assert client.get(url).json() == product
        assert client.get(BASE).json()["items"] == [product]
        assert client.patch(url, json={"status": "active"}).json()["version"] == 2
        active = client.get(BASE, params={"status": "active"}).json()["items"]
        assert [item["id"] for item in active] == [product["id"]]
        assert client.delete(url).status_code == 204
        assert client.get("/health/ready").status_code == 200

    assert endpoint.startswith("http://127.0.0.1:")
    assert endpoint != dynamodb_endpoint
    host, port = endpoint.removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=1)


def test_local_stand_in_without_moto_fails_start_up_clearly(
    without_endpoint: Settings, monkeypatch: pytest.MonkeyPatch, tenant_headers: TenantHeaders
) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)

    with (
        pytest.raises(MotoMissingError, match="DYNAMODB_ENDPOINT_URL"),
        running(without_endpoint, tenant_headers("t")),
    ):
        pass
