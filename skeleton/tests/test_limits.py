"""Limits on what one client can ask: requests per window (429 with Retry-After), header
size (431) and page size (422). The body limit (413) is in test_middleware.py."""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.rate_limit import InProcessWindowCounter, RateLimiter
from ${{ values.packageName }}.main import create_app

BASE = "/api/v1/products"
TenantHeaders = Callable[[str], dict[str, str]]

pytestmark = pytest.mark.anyio


def limited_app(make_settings: Callable[..., Settings], requests: int) -> FastAPI:
    return create_app(make_settings(rate_limit_requests=requests, rate_limit_window_seconds=60))


def test_requests_past_the_limit_are_429_with_retry_after(
    make_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
    app = limited_app(make_settings, requests=3)
    with TestClient(app, headers=tenant_headers("t")) as client:
        statuses = [client.get(BASE).status_code for _ in range(3)]
        refused = client.get(BASE, headers={"X-Correlation-ID": "limited-1"})
        # Health and metrics are not limited: probes keep working.
        probes = [client.get(path).status_code for path in ("/health/live", "/metrics")]

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json() == {
        "error": "TOO_MANY_REQUESTS",
        "message": "Too many requests: at most 3 per 60 s.",
        "correlation_id": "limited-1",
    }
    assert probes == [200, 200]


def test_the_limit_is_per_client_address(
    make_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
{% if values.auth == 'jwt' %}
    """Requests without a valid token count against their address (per subject otherwise:
    tests/auth)."""
    headers: dict[str, str] = {}
    allowed = 401
{% else %}
    headers = tenant_headers("t")
    allowed = 200
{% endif %}
    app = limited_app(make_settings, requests=2)

    async def behind_proxy(scope: Scope, receive: Receive, send: Send) -> None:
        """The client address from X-Forwarded-For, as uvicorn's --proxy-headers sets it."""
        if scope["type"] == "http":
            forwarded = dict(scope["headers"])[b"x-forwarded-for"].decode()
            scope = {**scope, "client": (forwarded, 5000)}
        await app(scope, receive, send)

    with TestClient(behind_proxy, headers=headers) as client:
        first, second = {"X-Forwarded-For": "10.0.0.1"}, {"X-Forwarded-For": "10.0.0.2"}
        first_statuses = [client.get(BASE, headers=first).status_code for _ in range(3)]
        second_statuses = [client.get(BASE, headers=second).status_code for _ in range(2)]

    assert first_statuses == [allowed, allowed, 429]
    assert second_statuses == [allowed, allowed]


def test_zero_turns_the_limit_off(
    make_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
    app = limited_app(make_settings, requests=0)
    with TestClient(app, headers=tenant_headers("t")) as client:
        assert {client.get(BASE).status_code for _ in range(20)} == {200}


async def test_the_window_resets_and_retry_after_counts_down() -> None:
    now = [1_000.0]
    limiter = RateLimiter(
        InProcessWindowCounter(), requests=2, window_seconds=10, namespace="t", clock=lambda: now[0]
    )
    await limiter.check("a")
    await limiter.check("a")
    now[0] = 1_003.5
    with pytest.raises(HTTPException) as refused:
        await limiter.check("a")
    await limiter.check("b")  # another client counts apart
    now[0] = 1_010.0  # the next window
    await limiter.check("a")

    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "7"}


async def test_in_process_counters_are_bounded() -> None:
    now = [0.0]
    counter = InProcessWindowCounter(max_keys=2, clock=lambda: now[0])

    assert await counter.admit("a", 1, 10)
    assert await counter.admit("b", 1, 10)
    # Full: a new client is not counted (let through), known ones still are.
    assert await counter.admit("c", 1, 10)
    assert await counter.admit("c", 1, 10)
    assert not await counter.admit("a", 1, 10)
    now[0] = 11.0  # both expired: they make room
    assert await counter.admit("c", 1, 10)
    assert not await counter.admit("c", 1, 10)


def test_headers_over_the_limit_are_431(
    make_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
    app = create_app(make_settings(http_max_header_bytes=4096))
    with TestClient(app, raise_server_exceptions=False, headers=tenant_headers("t")) as client:
        fits = client.get(BASE, headers={"X-Padding": "p" * 1000})
        one_long = client.get(BASE, headers={"X-Padding": "p" * 5000})
        many = client.get(BASE, headers={f"X-Padding-{n}": "p" * 100 for n in range(50)})
        probe = client.get("/health/live", headers={"X-Padding": "p" * 5000})

    assert fits.status_code == 200
    for refused in (one_long, many, probe):
        assert refused.status_code == 431
        assert refused.json()["error"] == "HEADERS_TOO_LARGE"
        assert refused.json()["message"] == "The request headers exceed 4096 bytes."


@pytest.mark.parametrize(("page_size", "status_code"), [(100, 200), (101, 422), (0, 422)])
def test_page_size_is_capped(client: TestClient, page_size: int, status_code: int) -> None:
    assert client.get(BASE, params={"page_size": page_size}).status_code == status_code
{% if values.database != 'dynamodb' %}


@pytest.mark.parametrize(
    ("page", "status_code"), [(1_000_000, 200), (1_000_001, 422), (2**70, 422)]
)
def test_page_number_is_capped(client: TestClient, page: int, status_code: int) -> None:
    """An offset past any real listing, and one that would overflow the database's integer."""
    assert client.get(BASE, params={"page": page}).status_code == status_code
{% endif %}
