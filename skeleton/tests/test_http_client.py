"""The outbound HTTP client: retries on transient failures only, circuit breaker,
correlation ID propagation."""

from collections.abc import Callable

import httpx2
import pytest

from ${{ values.packageName }}.core.circuit_breaker import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
)
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.correlation_id import (
    correlation_id_var,
)
from ${{ values.packageName }}.core.http_client import (
    ResilientHttpClient,
    UpstreamUnavailable,
    create_http_client,
)

pytestmark = pytest.mark.anyio


class Upstream:
    """A fake upstream answering with a scripted list of statuses (or errors)."""

    def __init__(self, *outcomes: int | Exception) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx2.Response(outcome, json={"status": outcome})


def state_of(breaker: CircuitBreaker) -> CircuitState:
    return breaker.state


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def resilient(
    settings: Settings,
    upstream: Upstream,
    *,
    retries: int = 2,
    threshold: int = 3,
    clock: Callable[[], float] | None = None,
) -> ResilientHttpClient:
    client = create_http_client(settings, transport=httpx2.MockTransport(upstream))
    breaker = CircuitBreaker(
        "upstream", failure_threshold=threshold, reset_seconds=30, clock=clock or FakeClock()
    )
    return ResilientHttpClient(
        client, retries=retries, breaker=breaker, backoff_initial_seconds=0, backoff_max_seconds=0
    )


async def test_transient_status_is_retried(settings: Settings) -> None:
    upstream = Upstream(503, 502, 200)
    client = resilient(settings, upstream)

    response = await client.get("https://upstream.test/items")

    assert response.status_code == 200
    assert len(upstream.requests) == 3


async def test_retries_are_bounded(settings: Settings) -> None:
    upstream = Upstream(504)
    client = resilient(settings, upstream, retries=2)

    response = await client.get("https://upstream.test/items")

    assert response.status_code == 504
    assert len(upstream.requests) == 3


@pytest.mark.parametrize("status", [400, 404, 409, 422, 500])
async def test_other_statuses_are_not_retried(settings: Settings, status: int) -> None:
    upstream = Upstream(status, 200)
    client = resilient(settings, upstream)

    response = await client.get("https://upstream.test/items")

    assert response.status_code == status
    assert len(upstream.requests) == 1


async def test_connection_errors_are_retried_then_reported(settings: Settings) -> None:
    upstream = Upstream(httpx2.ConnectError("refused"))
    client = resilient(settings, upstream, retries=2)

    with pytest.raises(UpstreamUnavailable):
        await client.get("https://upstream.test/items")

    assert len(upstream.requests) == 3


async def test_timeouts_are_retried(settings: Settings) -> None:
    upstream = Upstream(httpx2.ReadTimeout("slow"), 200)
    client = resilient(settings, upstream)

    assert (await client.get("https://upstream.test/items")).status_code == 200
    assert len(upstream.requests) == 2


async def test_post_is_retried_only_when_it_could_not_connect(settings: Settings) -> None:
    timed_out = Upstream(httpx2.ReadTimeout("slow"), 201)
    bad_gateway = Upstream(502, 201)
    refused = Upstream(httpx2.ConnectError("refused"), 201)

    with pytest.raises(UpstreamUnavailable):
        await resilient(settings, timed_out).post("https://upstream.test/orders", json={})
    response = await resilient(settings, bad_gateway).post("https://upstream.test/orders")
    retried = await resilient(settings, refused).post("https://upstream.test/orders")

    assert len(timed_out.requests) == 1
    assert response.status_code == 502
    assert len(bad_gateway.requests) == 1
    assert retried.status_code == 201
    assert len(refused.requests) == 2


async def test_correlation_id_is_forwarded(settings: Settings) -> None:
    upstream = Upstream(200)
    client = resilient(settings, upstream)
    token = correlation_id_var.set("cid-outbound")
    try:
        await client.get("https://upstream.test/items")
    finally:
        correlation_id_var.reset(token)
    await client.get("https://upstream.test/items")

    assert upstream.requests[0].headers["X-Correlation-ID"] == "cid-outbound"
    assert "X-Correlation-ID" not in upstream.requests[1].headers


async def test_circuit_opens_fails_fast_and_recovers(settings: Settings) -> None:
    clock = FakeClock()
    upstream = Upstream(httpx2.ConnectError("refused"))
    client = resilient(settings, upstream, retries=0, threshold=3, clock=clock)

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await client.get("https://upstream.test/items")
    assert state_of(client.breaker) is CircuitState.OPEN

    calls = len(upstream.requests)
    with pytest.raises(CircuitOpenError):
        await client.get("https://upstream.test/items")
    assert len(upstream.requests) == calls  # failed fast, no call

    clock.now += 30
    assert state_of(client.breaker) is CircuitState.HALF_OPEN
    upstream.outcomes = [200]
    assert (await client.get("https://upstream.test/items")).status_code == 200
    assert state_of(client.breaker) is CircuitState.CLOSED


async def test_failed_trial_reopens_the_circuit() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("x", failure_threshold=1, reset_seconds=10, clock=clock)
    await breaker.before_call()
    await breaker.record_failure()
    assert state_of(breaker) is CircuitState.OPEN

    clock.now += 10
    await breaker.before_call()  # the trial call
    with pytest.raises(CircuitOpenError):
        await breaker.before_call()  # only one trial at a time
    await breaker.record_failure()

    assert state_of(breaker) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await breaker.before_call()


async def test_client_errors_do_not_open_the_circuit(settings: Settings) -> None:
    upstream = Upstream(404)
    client = resilient(settings, upstream, threshold=1)

    for _ in range(3):
        await client.get("https://upstream.test/items")

    assert state_of(client.breaker) is CircuitState.CLOSED
