"""Datadog: service fields in every log line, trace fields in those logged inside a span,
no noise without an agent."""

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from ddtrace.trace import tracer
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.logging import (
    configure_logging,
)
from ${{ values.packageName }}.core.middleware.access_log import AccessLog
from ${{ values.packageName }}.core.tracing import (
    agent_reachable,
    configure_tracing,
)
from ${{ values.packageName }}.main import create_app

SetEnv = Callable[[str, str], None]
ReadLogs = Callable[[], list[dict[str, Any]]]
TenantHeaders = Callable[[str], dict[str, str]]

pytestmark = pytest.mark.anyio

DD_SERVICE_FIELDS = {"dd.service", "dd.env", "dd.version"}
DD_TRACE_FIELDS = {"dd.trace_id", "dd.span_id"}
DD_FIELDS = DD_SERVICE_FIELDS | DD_TRACE_FIELDS
# A logger of the service's own: other libraries' INFO lines are not written.
OWN_LOGGER = "${{ values.packageName }}.tests"


@pytest.fixture
def datadog_settings(base_env: SetEnv) -> Settings:
    base_env("DATADOG_ENABLED", "true")
    return Settings()


def test_log_lines_outside_a_span_carry_service_fields_only(
    datadog_settings: Settings, read_logs: ReadLogs
) -> None:
    # As create_app does: the tracer's service, env and version are the settings' ones.
    configure_tracing(datadog_settings)
    configure_logging(datadog_settings)

    structlog.get_logger(OWN_LOGGER).info("outside a span")

    (line,) = read_logs()
    assert line.keys() >= DD_SERVICE_FIELDS
    # No trace to link: no "0" trace and span IDs on every line.
    assert line.keys().isdisjoint(DD_TRACE_FIELDS)
    assert line["dd.service"] == datadog_settings.service_name
    assert line["dd.env"] == datadog_settings.environment
    assert line["dd.version"] == datadog_settings.version


def test_log_lines_carry_the_active_trace(
    datadog_settings: Settings, read_logs: ReadLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tracer stays disabled in tests (no agent); the processor's input is faked.
    context = {
        "dd.trace_id": "6b0231b100000000ee6163caeabed1c6",
        "dd.span_id": "17181447645951125172",
        "dd.service": "",
        "dd.env": "",
        "dd.version": "",
    }
    monkeypatch.setattr(tracer, "get_log_correlation_context", lambda: context)
    configure_logging(datadog_settings)

    structlog.get_logger(OWN_LOGGER).info("inside a span")
    route = SimpleNamespace(path="/api/v1/products")
    AccessLog(log_probes=False)({"type": "http", "method": "GET", "route": route}, 200, 0.001)

    lines = read_logs()
    assert [line["event"] for line in lines] == ["inside a span", "request"]
    for line in lines:
        assert line["dd.trace_id"] == context["dd.trace_id"]
        assert line["dd.span_id"] == context["dd.span_id"]
        assert line["dd.service"] == datadog_settings.service_name


def test_app_with_datadog_and_no_agent_logs_no_errors(
    datadog_settings: Settings,
    read_logs: ReadLogs,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tenant_headers: TenantHeaders,
) -> None:
    # Port 9 (discard) on the loopback interface: nothing listens there.
    monkeypatch.setenv("DD_TRACE_AGENT_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(tracer, "enabled", True)

    with caplog.at_level(logging.WARNING), TestClient(create_app(datadog_settings)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/api/v1/products", headers=tenant_headers("t")).status_code == 200

    assert tracer.enabled is False
    lines = read_logs()
    assert any(line["event"].startswith("no Datadog agent reachable") for line in lines)
    assert all(line.keys() >= DD_SERVICE_FIELDS for line in lines)
    assert all(line.keys().isdisjoint(DD_TRACE_FIELDS) for line in lines)
    assert [line for line in lines if line["level"] in {"warning", "error", "critical"}] == []
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


async def test_agent_probe_finds_a_listening_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    server = await asyncio.start_server(lambda _reader, writer: writer.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("DD_TRACE_AGENT_URL", f"http://127.0.0.1:{port}")
    try:
        assert await agent_reachable()
    finally:
        server.close()
        await server.wait_closed()
    assert not await agent_reachable()


def test_with_datadog_off_ddtrace_is_not_even_imported(settings: Settings) -> None:
    """Importing ddtrace costs every start about half a second; with tracing off (and no
    ``ddtrace-run``) the service does not pay it, and its log lines carry no trace fields."""
    probe = (
        "import sys\n"
        "from ${{ values.packageName }}.main import create_app\n"
        "create_app()\n"
        "assert 'ddtrace' not in sys.modules, 'ddtrace was imported'\n"
    )
    assert not settings.datadog_enabled

    # The environment the settings were read from, in a fresh interpreter.
    result = subprocess.run(
        [sys.executable, "-c", probe], env=os.environ, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr


def test_with_datadog_off_log_lines_have_no_trace_fields(
    settings: Settings, read_logs: ReadLogs
) -> None:
    configure_tracing(settings)
    configure_logging(settings)

    structlog.get_logger(OWN_LOGGER).info("no tracing")

    (line,) = read_logs()
    assert line.keys().isdisjoint(DD_FIELDS)


SPAN_PROBE = """
import json, os, socket, sys
import ddtrace
from ddtrace.trace import TraceFilter, tracer

# An agent address that accepts connections, so the service keeps tracing on; the spans
# are kept here (and dropped), never sent.
agent = socket.socket()
agent.bind(("127.0.0.1", 0))
agent.listen()
os.environ["DD_TRACE_AGENT_URL"] = "http://127.0.0.1:%d" % agent.getsockname()[1]
ddtrace.patch(fastapi=True)  # as ddtrace-run does
spans = []


class Keep(TraceFilter):
    def process_trace(self, trace):
        spans.extend(trace)
        return None


tracer.configure(trace_processors=[Keep()])
from fastapi.testclient import TestClient
from ${{ values.packageName }}.main import create_app

headers = json.loads(os.environ["PROBE_HEADERS"])
with TestClient(create_app()) as client:
    response = client.get(
        "/api/v1/products?access_token=SECRET-QUERY&password=SECRET-PASSWORD",
        headers={**headers, "Cookie": "session=SECRET-COOKIE"},
    )
tracer.flush()
print(json.dumps({
    "status": response.status_code,
    "spans": [
        {"name": span.name, "resource": span.resource, "tags": span.get_tags()}
        for span in spans
    ],
}))
"""


def test_spans_carry_no_secrets(
    datadog_settings: Settings, tenant_headers: TenantHeaders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A traced request with a token, a cookie and secrets in the query string: none of
    them is in any span's tags."""
    headers = tenant_headers("t")
    monkeypatch.setenv("PROBE_HEADERS", json.dumps(headers))

    result = subprocess.run(
        [sys.executable, "-c", SPAN_PROBE],
        env=os.environ,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    tags = json.dumps([span["tags"] for span in report["spans"]])
    assert report["status"] == 200
    assert any(span["name"] == "fastapi.request" for span in report["spans"]), report
    secrets = ["SECRET-QUERY", "SECRET-PASSWORD", "SECRET-COOKIE"]
    secrets += [value for name, value in headers.items() if name == "Authorization"]
    assert [secret for secret in secrets if secret in tags] == []
