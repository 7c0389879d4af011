"""Every failure answers with the one error envelope."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.errors import (
    ConflictError,
    NotFoundError,
    ServiceUnavailable,
    ValidationFailed,
)

ReadLogs = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def failing_client(app: FastAPI) -> Iterator[TestClient]:
    @app.get("/test/not-found")
    async def not_found() -> None:
        raise NotFoundError("Widget", 42)

    @app.get("/test/conflict")
    async def conflict() -> None:
        raise ConflictError("Widget 42 already exists.", details={"field": "name"})

    @app.get("/test/invalid")
    async def invalid() -> None:
        raise ValidationFailed("Discount exceeds the price.")

    @app.get("/test/unavailable")
    async def unavailable() -> None:
        raise ServiceUnavailable("Payments are down.")

    @app.get("/test/crash")
    async def crash() -> None:
        raise RuntimeError("password=hunter2 at db.internal:5432")

    @app.get("/test/upstream-timeout")
    async def upstream_timeout() -> None:
        raise TimeoutError("a call of the handler's own timed out")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def assert_envelope(body: dict[str, object], code: str) -> None:
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["correlation_id"], str)
    assert set(body) <= {"error", "message", "correlation_id", "details"}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/test/not-found", 404, "NOT_FOUND"),
        ("/test/conflict", 409, "CONFLICT"),
        ("/test/invalid", 422, "VALIDATION_FAILED"),
        ("/test/unavailable", 503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_service_errors(failing_client: TestClient, path: str, status: int, code: str) -> None:
    response = failing_client.get(path, headers={"X-Correlation-ID": "cid-1"})

    assert response.status_code == status
    body = response.json()
    assert_envelope(body, code)
    assert body["correlation_id"] == "cid-1"


def test_not_found_details(failing_client: TestClient) -> None:
    body = failing_client.get("/test/not-found").json()

    assert body["message"] == "Widget '42' was not found."
    assert body["details"] == {"resource": "Widget", "id": "42"}


def test_details_are_omitted_when_empty(failing_client: TestClient) -> None:
    assert "details" not in failing_client.get("/test/unavailable").json()


def test_unhandled_exception_is_500_without_internals(
    failing_client: TestClient, read_logs: ReadLogs
) -> None:
    read_logs()

    response = failing_client.get("/test/crash", headers={"X-Correlation-ID": "boom"})

    assert response.status_code == 500
    body = response.json()
    assert_envelope(body, "INTERNAL_ERROR")
    assert "hunter2" not in response.text
    assert "db.internal" not in response.text
    assert response.headers["X-Correlation-ID"] == "boom"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    lines = read_logs()
    (error,) = [line for line in lines if line["event"] == "unhandled exception"]
    assert error["level"] == "error"
    assert error["correlation_id"] == "boom"
    assert error["exception"][0]["exc_type"] == "RuntimeError"
    (access,) = [line for line in lines if line["event"] == "request"]
    assert access["status"] == 500


def test_unknown_route_is_404_envelope(client: TestClient) -> None:
    response = client.get("/does/not/exist")

    assert response.status_code == 404
    assert_envelope(response.json(), "NOT_FOUND")


def test_wrong_method_is_405_envelope(client: TestClient) -> None:
    response = client.put("/health/live")

    assert response.status_code == 405
    assert_envelope(response.json(), "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]


def test_request_validation_is_422_with_field_details(client: TestClient) -> None:
    response = client.post("/api/v1/products", json={"name": "", "price": "abc"})

    assert response.status_code == 422
    body = response.json()
    assert_envelope(body, "VALIDATION_ERROR")
    fields = {(detail["location"], detail["field"]) for detail in body["details"]}
    assert ("body", "name") in fields
    assert ("body", "price") in fields


def test_malformed_json_is_422_envelope(client: TestClient) -> None:
    malformed = '{"name": "x",\n "price": 1,}'
    with pytest.raises(json.JSONDecodeError) as parse_error:  # its wording varies by Python
        json.loads(malformed)
    response = client.post(
        "/api/v1/products",
        content=malformed.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    body = response.json()
    assert_envelope(body, "VALIDATION_ERROR")
    # The whole body is at fault, and the message says where, not a bare offset as the field.
    assert body["details"] == [
        {
            "location": "body",
            "field": "body",
            "message": f"The body is not valid JSON: {parse_error.value.msg} at line 2, column "
            f"{parse_error.value.colno}.",
            "type": "json_invalid",
        }
    ]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_body_not_sent_as_json_is_415_envelope(
    client: TestClient, method: str, content_type: str | None
) -> None:
    created = client.post("/api/v1/products", json={"name": "Widget", "price": "1"})
    url = "/api/v1/products" if method == "POST" else f"/api/v1/products/{created.json()['id']}"
    headers = {} if content_type is None else {"Content-Type": content_type}

    response = client.request(method, url, content=b'{"name": "x", "price": "1"}', headers=headers)

    assert response.status_code == 415
    body = response.json()
    assert_envelope(body, "UNSUPPORTED_MEDIA_TYPE")
    assert body["message"] == (
        "The request body must be JSON, sent with Content-Type: application/json."
    )
    assert len(client.get("/api/v1/products").json()["items"]) == 1


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_media_types_are_read(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/api/v1/products",
        content=b'{"name": "x", "price": "1"}',
        headers={"Content-Type": content_type},
    )

    assert response.status_code == 201


def test_the_415_is_in_the_openapi_description(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert "415" in paths["/api/v1/products"]["post"]["responses"]
    assert "415" in paths["/api/v1/products/{product_id}"]["patch"]["responses"]


def test_a_timeout_raised_by_the_handler_is_a_500_envelope(failing_client: TestClient) -> None:
    # Not the request deadline (504): the handler failed.
    response = failing_client.get("/test/upstream-timeout")

    assert response.status_code == 500
    assert_envelope(response.json(), "INTERNAL_ERROR")
