"""Shared fixtures: settings from a controlled environment and clients of the app."""

{% if values.database != 'none' %}
import asyncio
{% endif %}
import functools
{% if values.opentelemetry %}
import gzip
{% endif %}
import json
{% if values.database == 'dynamodb' %}
import logging
{% endif %}
import os
{% if values.usesRedis %}
import shutil
{% endif %}
{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
import signal
{% endif %}
{% if values.serverTests %}
import socket
{% endif %}
{% if values.usesRedis %}
import subprocess
{% endif %}
{% if values.opentelemetry %}
import threading
{% endif %}
import time
from collections.abc import Callable, Iterator
{% if values.database == 'dynamodb' %}
from contextlib import AsyncExitStack
{% endif %}
{% if values.opentelemetry %}
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
{% endif %}
from typing import Any${{ ', NamedTuple' if values.serverTests else '' }}
{% if values.serverTests %}
from urllib.parse import urlsplit
{% endif %}
{% if values.database != 'none' %}
from uuid import uuid4
{% endif %}

{% if values.database == 'dynamodb' %}
import aioboto3
{% endif %}
{% if values.auth == 'jwt' %}
import jwt
{% endif %}
import pytest
{% if values.auth == 'jwt' %}
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
{% endif %}
from fastapi import FastAPI
from fastapi.testclient import TestClient
{% if values.database == 'dynamodb' %}
from moto.server import ThreadedMotoServer
{% endif %}
{% if values.opentelemetry %}
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
{% endif %}
{% if values.sqlDatabase %}
from pydantic import SecretStr
{% endif %}
{% if values.usesRedis %}
from redis import Redis
from redis.exceptions import RedisError
{% endif %}
{% if values.sqlDatabase %}
from sqlalchemy import URL, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
{% endif %}

from ${{ values.packageName }}.core.config import (
    ENV_PREFIX,
    Settings,
)
from ${{ values.packageName }}.core.rate_limit import RateLimiter
{% if values.auth != 'jwt' %}
from ${{ values.packageName }}.core.tenancy import TENANT_ID_HEADER
{% endif %}
{% if values.sqlDatabase %}
from ${{ values.packageName }}.db.migrations import upgrade_to_head
{% endif %}
{% if values.database == 'dynamodb' %}
from ${{ values.packageName }}.dynamodb.local import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY
from ${{ values.packageName }}.dynamodb.table import create_table
{% endif %}
from ${{ values.packageName }}.main import create_app

SetEnv = Callable[[str, str], None]
TenantHeaders = Callable[[str], dict[str, str]]
TENANT_ID = "tenant-a"
{% if values.sqlDatabase %}
# The database server of the tests; CI points it at its service container.
TEST_DATABASE_URL_VARIABLE = "TEST_DATABASE_URL"
{% if values.database == 'aurora-postgresql' %}
DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
{% else %}
DEFAULT_TEST_DATABASE_URL = "mysql+aiomysql://root@127.0.0.1:3306/test"
{% endif %}
{% endif %}
{% if values.auth == 'jwt' %}
TEST_ISSUER = "https://id.example.com/"
TEST_AUDIENCE = "${{ values.name }}"


class TokenSigner:
    """Signs test tokens with an RSA key of its own; the app of the tests is configured
    with its public half (``JWT_PUBLIC_KEY``)."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def claims(
        self,
        *,
        tenant_id: str = TENANT_ID,
        roles: tuple[str, ...] = ("reader", "writer"),
        subject: str = "user-1",
        lifetime_seconds: int = 300,
    ) -> dict[str, Any]:
        """The claims of a valid token."""
        now = int(time.time())
        return {
            "iss": TEST_ISSUER,
            "aud": TEST_AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime_seconds,
            "tenant_id": tenant_id,
            "roles": list(roles),
        }

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers=headers)

    def token(self, **claims: Any) -> str:
        """A valid token; ``claims`` as those of ``claims()``."""
        return self.sign(self.claims(**claims))


@pytest.fixture(scope="session")
def token_signer() -> TokenSigner:
    return TokenSigner()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
{% endif %}


{% if values.serverTests %}
# Tests that need a server carry its marker (pyproject.toml); the others run on the
# in-process stand-ins (`make test-unit`). A marker's server is checked once per run.
class Server(NamedTuple):
    name: str
    url_variable: str
    default_url: str
    default_port: int
    deps_url: str  # where the one `make deps` starts listens


SERVERS = {
{% if values.database == 'aurora-postgresql' %}
    "database": Server(
        "PostgreSQL",
        TEST_DATABASE_URL_VARIABLE,
        DEFAULT_TEST_DATABASE_URL,
        5432,
        "postgresql+asyncpg://app:app@127.0.0.1:5432/app",
    ),
{% elif values.database == 'aurora-mysql' %}
    "database": Server(
        "MySQL",
        TEST_DATABASE_URL_VARIABLE,
        DEFAULT_TEST_DATABASE_URL,
        3306,
        "mysql+aiomysql://root:root@127.0.0.1:3306/app",
    ),
{% endif %}
{% if values.usesRedis %}
    "redis": Server(
        "Redis", "TEST_REDIS_URL", "redis://127.0.0.1:6379", 6379, "redis://127.0.0.1:6379"
    ),
{% endif %}
}


@functools.cache
def missing_server(marker: str) -> str | None:
    """Why the server of ``marker`` cannot be used (one quick connect), or None."""
    server = SERVERS[marker]
    url = urlsplit(os.environ.get(server.url_variable, server.default_url))
    host, port = url.hostname or "127.0.0.1", url.port or server.default_port
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return (
            f"{server.name} not reachable at {host}:{port}: set {server.url_variable}, or "
            f"start it with `make deps` and set {server.url_variable}={server.deps_url}"
        )
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test whose server is missing, with one reason naming it; fail it in CI, which
    must never go green by skipping."""
    for marker in SERVERS:
        reason = missing_server(marker) if item.get_closest_marker(marker) else None
        if reason is None:
            continue
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


{% endif %}
@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No service variable of the shell, and no ``.env`` file, leaks into a test."""
    for name in list(os.environ):
{% if values.opentelemetry %}
        # OTEL_*: no test sends spans anywhere but to a collector of its own.
        if name.startswith((ENV_PREFIX, "OTEL_")):
{% else %}
        if name.startswith(ENV_PREFIX):
{% endif %}
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _rate_limit_window_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate-limit windows follow the wall clock (so replicas share them): each limiter made
    in a test keeps the instant the test started, so that a test's requests never straddle
    a window's edge, where the count would start again. A clock passed explicitly wins."""
    started = time.time()
    held = functools.partialmethod(RateLimiter.__init__, clock=lambda: started)
    monkeypatch.setattr(RateLimiter, "__init__", held)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """Set a service environment variable, e.g. ``set_env("LOG_LEVEL", "DEBUG")``, for the
    current test only."""

    def set_prefixed(name: str, value: str) -> None:
        monkeypatch.setenv(f"{ENV_PREFIX}{name}", value)

    return set_prefixed


{% if values.database == 'dynamodb' %}
@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """A moto server for the whole run, spoken to over real HTTP as DynamoDB would be."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def create_dynamodb_table(dynamodb_endpoint: str) -> Iterator[Callable[[str], None]]:
    """Create a table of the service's design in the moto server (one client for the run)."""
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        client = runner.run(
            stack.enter_async_context(
                aioboto3.Session().client(
                    "dynamodb",
                    region_name="us-east-1",
                    endpoint_url=dynamodb_endpoint,
                    aws_access_key_id=LOCAL_ACCESS_KEY_ID,
                    aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
                )
            )
        )
        yield lambda name: runner.run(create_table(client, name))
        runner.run(stack.aclose())


@pytest.fixture
def dynamodb_table(
    dynamodb_endpoint: str,
    create_dynamodb_table: Callable[[str], None],
    set_env: SetEnv,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A table of its own for the test, and the variables that point the service at it."""
    name = f"products-{uuid4().hex}"
    create_dynamodb_table(name)
    set_env("DYNAMODB_ENDPOINT_URL", dynamodb_endpoint)
    set_env("DYNAMODB_TABLE", name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_ACCESS_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return name


@pytest.fixture
def base_env(
    set_env: SetEnv,
    dynamodb_table: str,
{% if values.auth == 'jwt' %}
    token_signer: TokenSigner,
{% endif %}
) -> SetEnv:
    """The variables every test starts from: local stand-ins except DynamoDB, which is the
    test's own table in the moto server; JSON logs."""
{% else %}
@pytest.fixture
def base_env(
    set_env: SetEnv,
{% if values.auth == 'jwt' %}
    token_signer: TokenSigner,
{% endif %}
) -> SetEnv:
    """The variables every test starts from: local stand-ins, JSON logs."""
{% endif %}
    set_env("ENVIRONMENT", "local")
    set_env("LOG_JSON", "true")
{% if values.datadog %}
    set_env("DATADOG_ENABLED", "false")
{% endif %}
{% if values.auth == 'jwt' %}
    set_env("JWT_ISSUER", TEST_ISSUER)
    set_env("JWT_AUDIENCE", TEST_AUDIENCE)
    set_env("JWT_PUBLIC_KEY", token_signer.public_pem)
{% endif %}
    return set_env


@pytest.fixture
def settings(base_env: SetEnv) -> Settings:
    """Settings read from the environment, as in a deployment."""
    return Settings()


@pytest.fixture
def make_settings(base_env: SetEnv) -> Callable[..., Settings]:
    """Settings from the environment with some fields replaced."""

    def build(**overrides: Any) -> Settings:
        return Settings().model_copy(update=overrides)

    return build


{% if values.sqlDatabase %}
async def execute_autocommit(url: URL, *statements: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def migrate(url: URL) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database of this test session's own on the server of ``TEST_DATABASE_URL``,
    migrated to the latest schema, and dropped at the end."""
    server = make_url(os.environ.get(TEST_DATABASE_URL_VARIABLE, DEFAULT_TEST_DATABASE_URL))
    name = f"test_{uuid4().hex[:16]}"
    asyncio.run(execute_autocommit(server, f"CREATE DATABASE {name}"))
    url = server.set(database=name)
    try:
        asyncio.run(migrate(url))
        yield url.render_as_string(hide_password=False)
    finally:
{% if values.database == 'aurora-postgresql' %}
        asyncio.run(execute_autocommit(server, f"DROP DATABASE {name} WITH (FORCE)"))
{% else %}
        asyncio.run(execute_autocommit(server, f"DROP DATABASE {name}"))
{% endif %}


@pytest.fixture
def empty_database(database_url: str) -> str:
{% if values.events == 'redis-streams' %}
    """The session's database without products or unsent events: every test starts from
    empty tables."""
    asyncio.run(
        execute_autocommit(
            make_url(database_url), "DELETE FROM products", "DELETE FROM event_outbox"
        )
    )
{% else %}
    """The session's database without products: every test starts from an empty table."""
    asyncio.run(execute_autocommit(make_url(database_url), "DELETE FROM products"))
{% endif %}
    return database_url


@pytest.fixture
def migrate_database() -> Callable[[str], None]:
    """Call it to migrate the database at a URL to the latest schema."""
    return lambda url: asyncio.run(migrate(make_url(url)))


@pytest.fixture
def run_sql(database_url: str) -> Callable[..., None]:
    """Call it to run statements on the session's database, in one session, outside any
    transaction."""
    return lambda *statements: asyncio.run(execute_autocommit(make_url(database_url), *statements))


@pytest.fixture
def app(settings: Settings, request: pytest.FixtureRequest) -> FastAPI:
    """The app: on the test database for tests marked ``database``, on the SQLite stand-in
    for the others."""
    if request.node.get_closest_marker("database") is None:
        return create_app(settings)
    empty_database: str = request.getfixturevalue("empty_database")
    return create_app(settings.model_copy(update={"database_url": SecretStr(empty_database)}))
{% else %}
@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)
{% endif %}


{% if values.auth == 'jwt' %}
@pytest.fixture
def tenant_headers(token_signer: TokenSigner) -> TenantHeaders:
    """Call it for the headers of a request acting for a tenant: a bearer token that
    names it, with the read and the write role."""
    return lambda tenant_id: bearer(token_signer.token(tenant_id=tenant_id))
{% else %}
@pytest.fixture
def tenant_headers() -> TenantHeaders:
    """Call it for the headers of a request acting for a tenant."""
    return lambda tenant_id: {TENANT_ID_HEADER: tenant_id}
{% endif %}


@pytest.fixture
def client(app: FastAPI, tenant_headers: TenantHeaders) -> Iterator[TestClient]:
    """A client of the app acting for ``TENANT_ID``; entering it runs the lifespan (startup
    and shutdown)."""
    with TestClient(
        app, raise_server_exceptions=False, headers=tenant_headers(TENANT_ID)
    ) as test_client:
        yield test_client


@pytest.fixture
def read_logs(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """Call it to get the JSON log lines written to standard output since the last call."""

    def read() -> list[dict[str, Any]]:
        output = capsys.readouterr().out
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    return read
{% if values.serverTests %}


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (once the probe is closed), for a server
    the test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
{% endif %}
{% if values.usesRedis %}


{% if values.taskQueue != 'none' %}
def stop_process(process: subprocess.Popen[Any], timeout: float, *, group: bool = False) -> None:
    """Stop a process as Kubernetes stops a container: SIGTERM, then SIGKILL if it has not
    exited within ``timeout`` seconds; with ``group``, the SIGKILL goes to its whole process
    group (one started in a session of its own, with children)."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
{% else %}
def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """Stop a process as Kubernetes stops a container: SIGTERM, then SIGKILL if it has not
    exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
{% endif %}


def answers(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except RedisError:
        return False


class PrivateRedis:
{% if values.cache == 'elasticache-redis' or values.taskQueue == 'arq' %}
    """A ``redis-server`` of one test alone, so the test can stop, start and pause it."""
{% else %}
    """A ``redis-server`` of one test alone, so the test can stop and start it."""
{% endif %}

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it, empty, and wait until it answers."""
        command = [self.executable, "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        with Redis.from_url(self.url, socket_timeout=0.5) as client:
            while not answers(client):
                assert time.monotonic() < deadline, f"no redis-server on port {self.port}"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
{% if values.cache == 'elasticache-redis' or values.taskQueue == 'arq' %}
            self.process.send_signal(signal.SIGCONT)  # paused, it would act on SIGTERM only later
{% endif %}
            stop_process(self.process, timeout=10)
            self.process = None
{% if values.cache == 'elasticache-redis' or values.taskQueue == 'arq' %}

    def pause(self) -> None:
        """Freeze it (SIGSTOP): its connections stay open, but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
{% endif %}
{% if values.cache == 'elasticache-redis' %}

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
{% endif %}


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A running ``redis-server`` of the test's own, stopped at the end."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(executable)
    server.start()
    try:
        yield server
    finally:
        server.stop()
{% endif %}
{% if values.opentelemetry %}


@dataclass
class Collector:
    """What an OpenTelemetry collector received over OTLP/HTTP: every span, with its
    service's name, the name of the instrumentation that made it, and its attributes."""

    endpoint: str = ""
    spans: list[dict[str, Any]] = field(default_factory=list)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [span for span in list(self.spans) if span["trace_id"] == trace_id]


def attribute_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [attribute_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture
def otlp_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    """A real OTLP/HTTP receiver that decodes the protobuf export requests, as the
    endpoint of every process the test starts (a short batch delay, so spans come soon)."""
    collector = Collector()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                resource = {
                    item.key: attribute_value(item.value)
                    for item in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        collector.spans.append(
                            {
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "name": span.name,
                                "kind": span.kind,
                                "scope": scope_spans.scope.name,
                                "service": resource.get("service.name"),
                                "attributes": {
                                    item.key: attribute_value(item.value)
                                    for item in span.attributes
                                },
                            }
                        )
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    collector.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    yield collector
    server.shutdown()
    server.server_close()
{% endif %}
