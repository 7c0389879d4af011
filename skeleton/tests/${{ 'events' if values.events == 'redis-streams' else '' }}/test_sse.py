"""The live event route (``GET /api/v1/products/events``) on a real uvicorn server, over the
in-process stream and over Redis: what a client reconnecting with ``Last-Event-ID`` gets,
tenant isolation, keep-alive comments past the request deadline, the bound on open streams,
and streams ending when the server is told to stop."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx2
import pytest
import uvicorn
from pydantic import SecretStr
from redis import Redis

from conftest import PrivateRedis, free_port
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.deps import Services, services_of
from ${{ values.packageName }}.events.envelope import EventEnvelope
from ${{ values.packageName }}.events.sse import InvalidLastEventIdError, resume_position
from ${{ values.packageName }}.main import create_app
from ${{ values.packageName }}.products.event_payloads import PRODUCT_CREATED, ProductCreatedV1
from ${{ values.packageName }}.products.event_stream_route import EVENT_STREAM_PARAMETERS
from ${{ values.packageName }}.products.models import ProductStatus

SetEnv = Callable[[str, str], None]
TenantHeaders = Callable[[str], dict[str, str]]
EVENTS = "/api/v1/products/events"
PRODUCTS = "/api/v1/products"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
# The service as its image runs it, with a graceful shutdown far longer than the test waits.
UVICORN = [
    *(sys.executable, "-m", "uvicorn", "--factory", "${{ values.packageName }}.main:create_app"),
    *("--timeout-graceful-shutdown", "30", "--log-level", "warning"),
]
# Long enough for any frame a test waits for; a test that would hang fails instead.
READ_TIMEOUT_SECONDS = 10.0
# Starting a server process imports the whole service, which a busy CI machine can slow
# well past the read timeout.
START_TIMEOUT_SECONDS = 60.0


@dataclass
class Frame:
    """One Server-Sent Event, or a comment line (``comment`` set, the rest empty)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None

    @property
    def envelope(self) -> EventEnvelope:
        assert self.data is not None
        return EventEnvelope.model_validate_json(self.data)


@dataclass
class EventReader:
    lines: Iterator[str]
    comments: list[str] = field(default_factory=list)

    def frame(self) -> Frame:
        """The next frame, comment or event."""
        frame = Frame()
        for line in self.lines:
            if line == "":
                return frame
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comment = value
            else:
                setattr(frame, name, value)
        raise AssertionError("the stream ended")

    def events(self, count: int) -> list[Frame]:
        """The next ``count`` events; comments met meanwhile go to ``comments``."""
        events: list[Frame] = []
        # Keep-alive comments would otherwise keep a test waiting for an event forever.
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        while len(events) < count:
            assert time.monotonic() < deadline, f"{len(events)} events of {count} came"
            frame = self.frame()
            if frame.comment is not None:
                self.comments.append(frame.comment)
            else:
                events.append(frame)
        return events


class LiveServer:
    """The app on a real uvicorn server in a thread of its own, on a free port."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(self.app, log_config=None, timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, args=([self._socket],))

    def __enter__(self) -> "LiveServer":
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            assert self._thread.is_alive(), "the server failed to start"
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        # As SIGTERM would (a server outside the main thread installs no signal handlers).
        self._server.handle_exit(signal.SIGTERM, None)
        self._thread.join(READ_TIMEOUT_SECONDS)
        self._socket.close()
        assert not self._thread.is_alive(), "the server did not stop"

    def call(self, work: Callable[[Services], Coroutine[Any, Any, object]]) -> None:
        """Run ``work`` on the server's event loop, with the app's services."""
        loop = self._server.servers[0].get_loop()
        asyncio.run_coroutine_threadsafe(work(services_of(self.app)), loop).result(
            READ_TIMEOUT_SECONDS
        )


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def stream_settings(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> Iterator[Callable[..., Settings]]:
    """Settings on the in-process stream or on a stream of the test's own in Redis."""
    stream = f"test-sse-{uuid4().hex}"
    url = SecretStr(TEST_REDIS_URL) if request.param == "redis" else None

    def build(**overrides: Any) -> Settings:
        return make_settings(events_redis_url=url, events_stream=stream, **overrides)

    yield build
    if url is not None:
        with Redis.from_url(TEST_REDIS_URL) as redis:
            redis.delete(stream)


@pytest.fixture
def server(stream_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    with LiveServer(stream_settings()) as live:
        yield live


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=READ_TIMEOUT_SECONDS) as client:
        yield client


@dataclass
class Tenant:
    """Changes products of one tenant through the API, and listens to its events."""

    http: httpx2.Client
    headers: dict[str, str]

    def create(self, name: str) -> str:
        response = self.http.post(
            PRODUCTS, json={"name": name, "price": "1.00"}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        product_id: str = response.json()["id"]
        return product_id

    def rename(self, product_id: str, name: str) -> None:
        response = self.http.patch(
            f"{PRODUCTS}/{product_id}", json={"name": name}, headers=self.headers
        )
        assert response.status_code == 200, response.text

    def delete(self, product_id: str) -> None:
        response = self.http.delete(f"{PRODUCTS}/{product_id}", headers=self.headers)
        assert response.status_code == 204, response.text

    def listen(self, last_event_id: str | None = None) -> Any:
        headers = dict(self.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        return self.http.stream("GET", EVENTS, headers=headers)


def v1_created(tenant_id: str) -> EventEnvelope:
    """A product.created event of the first version, as the service published it before v2."""
    now = datetime.now(UTC)
    payload = ProductCreatedV1(
        product_id=uuid4(),
        name="Widget",
        description=None,
        price="19.99",
        status=ProductStatus.DRAFT,
        created_at=now,
    )
    return EventEnvelope(
        id=uuid4(),
        type=PRODUCT_CREATED,
        version=1,
        time=now,
        tenant_id=tenant_id,
        payload=payload.model_dump(mode="json"),
    )


def tenant(http: httpx2.Client, tenant_headers: TenantHeaders, tenant_id: str) -> Tenant:
    return Tenant(http, tenant_headers(tenant_id))


def opened(response: httpx2.Response) -> EventReader:
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    return EventReader(response.iter_lines())


def test_a_reconnect_with_last_event_id_gets_exactly_the_missed_events_in_order(
    http: httpx2.Client, tenant_headers: TenantHeaders
) -> None:
    alice = tenant(http, tenant_headers, "tenant-a")
    with alice.listen() as response:
        reader = opened(response)
        first = alice.create("first")
        seen = reader.events(1)
    alice.rename(first, "renamed")
    second = alice.create("second")
    alice.delete(first)

    with alice.listen(last_event_id=seen[0].id) as response:
        reader = opened(response)
        missed = reader.events(3)
        alice.delete(second)
        live = reader.events(1)

    assert seen[0].event == "product.created"
    assert seen[0].envelope.payload["product_id"] == first
    frames = [*missed, *live]
    assert [(frame.event, frame.envelope.payload["product_id"]) for frame in frames] == [
        ("product.updated", first),
        ("product.created", second),
        ("product.deleted", first),
        ("product.deleted", second),
    ]
    ids = [str(frame.id) for frame in [*seen, *frames]]
    assert ids == sorted(ids, key=lambda entry_id: tuple(map(int, entry_id.split("-"))))
    assert len(set(ids)) == len(ids)


def test_a_stream_without_last_event_id_starts_from_now(
    server: LiveServer, http: httpx2.Client, tenant_headers: TenantHeaders
) -> None:
    alice = tenant(http, tenant_headers, "tenant-a")
    # Appended at once (the API's event may reach the stream a moment after its response).
    server.call(lambda services: services.event_stream.append(v1_created("tenant-a")))
    with alice.listen() as response:
        reader = opened(response)
        after = alice.create("after")
        (frame,) = reader.events(1)
    assert frame.envelope.payload["product_id"] == after


def test_another_tenants_events_never_appear(
    http: httpx2.Client, tenant_headers: TenantHeaders
) -> None:
    alice = tenant(http, tenant_headers, "tenant-a")
    bob = tenant(http, tenant_headers, "tenant-b")
    with alice.listen() as response:
        reader = opened(response)
        for number in range(3):
            bob.create(f"bob-{number}")
        mine = alice.create("alice")
        bob.create("bob-last")
        last = alice.create("alice-last")
        frames = reader.events(2)
    assert [frame.envelope.payload["product_id"] for frame in frames] == [mine, last]
    assert {frame.envelope.tenant_id for frame in frames} == {"tenant-a"}


def test_events_are_sent_at_the_latest_version_of_their_type(
    server: LiveServer, http: httpx2.Client, tenant_headers: TenantHeaders
) -> None:
    alice = tenant(http, tenant_headers, "tenant-a")
    old = v1_created("tenant-a")
    with alice.listen() as response:
        reader = opened(response)
        server.call(lambda services: services.event_stream.append(old))
        (frame,) = reader.events(1)
    latest = frame.envelope
    assert (latest.id, latest.type, latest.version) == (old.id, "product.created", 2)
    # The price of v1, "19.99", in cents: v2's one change.
    assert latest.payload == {
        **{key: value for key, value in old.payload.items() if key != "price"},
        "price_cents": 1999,
    }


@pytest.mark.parametrize(
    "value",
    [
        "0-0",
        "1767225600000-12",
        f"{'9' * 19}-{'9' * 19}",
        "",
        "1",
        "1-",
        "-1",
        "1-2-3",
        "a-1",
        " 1-1",
        "1-1\n",
        f"{'1' * 20}-0",
        "\u0661-\u0661",  # Arabic-Indic digits
    ],
)
def test_the_last_event_id_schema_is_the_rule_the_service_applies(value: str) -> None:
    (parameter,) = [
        parameter
        for parameter in EVENT_STREAM_PARAMETERS["parameters"]
        if parameter["name"] == "Last-Event-ID"
    ]
    schema = parameter["schema"]
    # As JSON Schema reads it: an ECMAScript pattern, which `$` ends only at the very end.
    fits = (
        len(value) <= schema["maxLength"]
        and re.search(schema["pattern"].removesuffix("$") + r"\Z", value) is not None
    )
    try:
        accepted = resume_position([value]) == value
    except InvalidLastEventIdError:
        accepted = False
    assert fits == accepted


@pytest.mark.parametrize("value", ["abc", "1-2-3", "-1", "12", "1-", "1" * 20 + "-0"])
def test_a_malformed_last_event_id_is_refused(
    http: httpx2.Client, tenant_headers: TenantHeaders, value: str
) -> None:
    response = http.get(EVENTS, headers={**tenant_headers("tenant-a"), "Last-Event-ID": value})
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_LAST_EVENT_ID"


def test_the_route_is_rate_limited_as_the_other_product_routes(
    stream_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
    with (
        LiveServer(stream_settings(rate_limit_requests=1)) as live,
        httpx2.Client(base_url=live.url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        headers = {**tenant_headers("tenant-a"), "Last-Event-ID": "not an ID"}
        first, second = (http.get(EVENTS, headers=headers) for _ in range(2))
    assert first.status_code == 400
    assert second.status_code == 429
{% if values.auth == 'jwt' %}


def test_the_route_needs_a_token_with_a_role_that_reads(
    http: httpx2.Client, token_signer: Any
) -> None:
    def bearer(*roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_signer.token(roles=roles)}"}

    without_token = http.get(EVENTS)
    without_role = http.get(EVENTS, headers=bearer())
    with http.stream("GET", EVENTS, headers=bearer("reader")) as reader:
        opened(reader)
    assert without_token.status_code == 401
    assert without_role.status_code == 403
{% endif %}


def test_keep_alive_comments_keep_a_stream_open_past_the_request_deadline(
    stream_settings: Callable[..., Settings],
    tenant_headers: TenantHeaders,
    read_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    settings = stream_settings(events_sse_keepalive_seconds=0.1, request_timeout_seconds=0.3)
    with (
        LiveServer(settings) as live,
        httpx2.Client(base_url=live.url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        alice = tenant(http, tenant_headers, "tenant-a")
        with alice.listen() as response:
            reader = opened(response)
            started = time.monotonic()
            comments = [reader.frame().comment for _ in range(8)]
            open_for = time.monotonic() - started
            created = alice.create("still listening")
            (frame,) = reader.events(1)
            logged_while_open = [line for line in read_logs() if line.get("route") == EVENTS]
        # Counted once the server has learnt that the client went away and ended the request.
        seconds = stream_seconds(http)
    assert comments == ["keep-alive"] * 8
    assert open_for > 0.6
    assert frame.envelope.payload["product_id"] == created
    assert logged_while_open == []
    access = [line for line in read_logs() if line.get("route") == EVENTS]
    assert [(line["method"], line["status"]) for line in access] == [("GET", 200)]
    assert access[0]["duration_ms"] > 600
    assert seconds > 0.6


def stream_seconds(http: httpx2.Client) -> float:
    """The time the route's ended requests took in all, from ``/metrics``."""
    series = re.compile(
        rf'^http_request_duration_seconds_sum{{method="GET",route="{EVENTS}",status="200"}} (\S+)$',
        re.MULTILINE,
    )
    deadline = time.monotonic() + READ_TIMEOUT_SECONDS
    while (found := series.search(http.get("/metrics").text)) is None:
        assert time.monotonic() < deadline, "the stream's request was never counted"
        time.sleep(0.05)
    return float(found.group(1))


def test_streams_past_the_bound_get_503_until_one_ends(
    stream_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
    with (
        LiveServer(stream_settings(events_sse_max_streams=2)) as live,
        httpx2.Client(base_url=live.url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        alice = tenant(http, tenant_headers, "tenant-a")
        with alice.listen() as first, alice.listen() as second:
            opened(first), opened(second)
            refused = http.get(EVENTS, headers=alice.headers)
        assert refused.status_code == 503
        assert refused.json()["error"] == "TOO_MANY_STREAMS"
        assert int(refused.headers["Retry-After"]) >= 1
        # Both clients went away: their slots free up as soon as the server notices.
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        while True:
            with alice.listen() as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the slots were never freed"
            time.sleep(0.05)


def test_a_stream_ends_after_its_lifetime_and_resumes_where_it_ended(
    stream_settings: Callable[..., Settings], tenant_headers: TenantHeaders
) -> None:
    with (
        LiveServer(stream_settings(events_sse_max_stream_seconds=0.5)) as live,
        httpx2.Client(base_url=live.url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        alice = tenant(http, tenant_headers, "tenant-a")
        with alice.listen() as response:
            reader = opened(response)
            created = alice.create("one")
            (frame,) = reader.events(1)
            rest = list(reader.lines)  # to the end of the response, without an error
        alice.rename(created, "two")
        with alice.listen(last_event_id=frame.id) as response:
            (resumed,) = opened(response).events(1)
    assert all(line.startswith(":") or line == "" for line in rest)
    assert (resumed.event, resumed.envelope.payload["product_id"]) == ("product.updated", created)


@pytest.mark.redis
def test_a_redis_outage_ends_streams_refuses_new_ones_and_they_resume_after_it(
    make_settings: Callable[..., Settings],
    private_redis: PrivateRedis,
    tenant_headers: TenantHeaders,
) -> None:
    settings = make_settings(events_redis_url=SecretStr(private_redis.url))
    with (
        LiveServer(settings) as live,
        httpx2.Client(base_url=live.url, timeout=READ_TIMEOUT_SECONDS) as http,
    ):
        alice = tenant(http, tenant_headers, "tenant-a")
        with alice.listen() as response:
            reader = opened(response)
            live.call(lambda services: services.event_stream.append(v1_created("tenant-a")))
            (before,) = reader.events(1)
            private_redis.stop()
            rest = list(reader.lines)  # to the end of the response, without an error
        refused = http.get(EVENTS, headers=alice.headers)
        private_redis.start()  # empty: the stream starts again
        with alice.listen(last_event_id="0-0") as response:
            reader = opened(response)
            after = v1_created("tenant-a")
            live.call(lambda services: services.event_stream.append(after))
            (resumed,) = reader.events(1)
    assert before.event == "product.created"
    assert all(line.startswith(":") or line == "" for line in rest)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert resumed.envelope.id == after.id


def test_shutdown_ends_open_streams_and_the_server_stops_at_once(
    base_env: SetEnv, tenant_headers: TenantHeaders
) -> None:
    """A real uvicorn process told to stop (SIGTERM) while a client listens: the stream
    ends normally, and the process exits long before its graceful-shutdown timeout."""
    port = free_port()
    process = subprocess.Popen([*UVICORN, "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx2.Client(base_url=url, timeout=READ_TIMEOUT_SECONDS) as http:
            wait_until_ready(http)
            with tenant(http, tenant_headers, "tenant-a").listen() as response:
                reader = opened(response)
                stopped_at = time.monotonic()
                process.send_signal(signal.SIGTERM)
                rest = list(reader.lines)  # to the end of the response, without an error
        output, _ = process.communicate(timeout=READ_TIMEOUT_SECONDS)
        assert time.monotonic() - stopped_at < 5
        assert all(line.startswith(":") or line == "" for line in rest)
        # Shut down in order (uvicorn then ends itself with the signal it was sent).
        assert '"service stopped"' in output
        assert process.returncode in {0, -signal.SIGTERM}
    finally:
        process.kill()
        process.wait()


def wait_until_ready(http: httpx2.Client) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if http.get("/health/ready").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the server did not become ready")
