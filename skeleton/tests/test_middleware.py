"""Body limit (413), timeout (504), security headers and CORS."""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.config import (
    Settings,
    load_settings,
)
from ${{ values.packageName }}.core.middleware._scope import read_request_head
from ${{ values.packageName }}.core.middleware.body_limit import has_body
from ${{ values.packageName }}.main import create_app

SetEnv = Callable[[str, str], None]


def client_for(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def echo_app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    @app.post("/test/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return app


def test_body_over_limit_with_content_length_is_413(
    make_settings: Callable[..., Settings],
) -> None:
    with client_for(echo_app(make_settings(http_max_body_bytes=100))) as client:
        response = client.post("/test/echo", content=b"x" * 101)

    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"
    assert response.headers["X-Correlation-ID"]


def test_chunked_body_over_limit_is_413(make_settings: Callable[..., Settings]) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 20

    with client_for(echo_app(make_settings(http_max_body_bytes=100))) as client:
        response = client.post("/test/echo", content=chunks())

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"


def test_chunked_body_over_limit_is_413_for_a_model_route(
    make_settings: Callable[..., Settings],
) -> None:

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 20
        yield b'", "price": "1.00"}'

    with client_for(create_app(make_settings(http_max_body_bytes=100))) as client:
        response = client.post("/api/v1/products", content=chunks())

    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"


def test_body_within_limit_passes(make_settings: Callable[..., Settings]) -> None:
    with client_for(echo_app(make_settings(http_max_body_bytes=100))) as client:
        response = client.post("/test/echo", content=b"x" * 100)

    assert response.status_code == 200
    assert response.json() == {"received": 100}


@pytest.mark.parametrize(
    ("http_version", "headers", "expected"),
    [
        ("1.1", [(b"host", b"x")], False),
        ("1.0", [], False),
        ("1.1", [(b"content-length", b"0")], True),
        ("1.1", [(b"transfer-encoding", b"chunked")], True),
        ("2", [(b"host", b"x")], True),  # HTTP/2 streams a body without either header
    ],
)
def test_a_body_is_counted_only_where_the_request_can_have_one(
    http_version: str, headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    scope = {"type": "http", "http_version": http_version, "headers": headers}

    assert has_body(scope, read_request_head(scope)) is expected


def test_request_head_takes_the_first_value_of_each_header() -> None:
    headers = [
        (b"content-length", b"5"),
        (b"x-correlation-id", b"first"),
        (b"x-correlation-id", b"second"),
        (b"content-length", b"7"),
    ]

    head = read_request_head({"type": "http", "headers": headers})

    assert head.content_length == b"5"
    assert head.correlation_id == b"first"
    assert head.header_bytes == sum(len(name) + len(value) for name, value in headers)


def test_slow_request_is_504(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(request_timeout_seconds=0.2))

    @app.get("/test/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(5)
        return {"status": "late"}

    with client_for(app) as client:
        response = client.get("/test/slow", headers={"X-Correlation-ID": "slow-1"})

    assert response.status_code == 504
    body = response.json()
    assert body["error"] == "TIMEOUT"
    assert body["correlation_id"] == "slow-1"


def test_security_headers(client: TestClient) -> None:
    response = client.get("/health/live")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers
    assert "server" not in response.headers


def test_security_headers_on_errors(client: TestClient) -> None:
    response = client.get("/no/such/route")

    assert response.headers["X-Frame-Options"] == "DENY"


def test_hsts_when_configured(make_settings: Callable[..., Settings]) -> None:
    with client_for(create_app(make_settings(hsts_max_age_seconds=31536000))) as client:
        response = client.get("/health/live")

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_server_header_from_the_app_is_removed(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/test/server")
    async def with_server() -> JSONResponse:
        return JSONResponse({}, headers={"server": "leaky/1.0"})

    with client_for(app) as client:
        assert "server" not in client.get("/test/server").headers


def test_cors_is_off_without_allowlist(client: TestClient) -> None:
    response = client.get("/health/live", headers={"Origin": "https://evil.example.com"})

    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_listed_origins(base_env: SetEnv) -> None:
    base_env("CORS_ALLOW_ORIGINS", '["https://app.example.com"]')

    with client_for(create_app(load_settings())) as client:
        allowed = client.get("/health/live", headers={"Origin": "https://app.example.com"})
        refused = client.get("/health/live", headers={"Origin": "https://evil.example.com"})
        preflight = client.options(
            "/api/v1/products",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-tenant-id, x-correlation-id",
            },
        )

    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in refused.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"


def test_cors_lets_a_browser_send_if_match_and_read_the_etag(base_env: SetEnv) -> None:
    base_env("CORS_ALLOW_ORIGINS", '["https://app.example.com"]')
    origin = {"Origin": "https://app.example.com"}

    with client_for(create_app(load_settings())) as client:
        preflight = client.options(
            "/api/v1/products/00000000-0000-0000-0000-000000000000",
            headers={
                **origin,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "content-type, if-match",
            },
        )
        response = client.get("/health/live", headers=origin)

    assert preflight.status_code == 200
    assert "ETag" in response.headers["access-control-expose-headers"].split(", ")


def test_a_timeout_after_the_response_started_is_raised(
    make_settings: Callable[..., Settings],
) -> None:
    """Too late for a 504: the half-sent response must fail, not end as if complete."""
    app = create_app(make_settings(request_timeout_seconds=0.2))

    @app.get("/test/stalls")
    async def stalls() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first chunk"
            await asyncio.sleep(5)
            yield b"never sent"

        return StreamingResponse(body())

    with TestClient(app) as client, pytest.raises(TimeoutError):
        client.get("/test/stalls")
