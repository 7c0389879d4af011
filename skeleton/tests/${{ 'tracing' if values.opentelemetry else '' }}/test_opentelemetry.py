"""OpenTelemetry: request spans sent to a collector over OTLP, without secrets;
{% if values.sqlDatabase %}
a span per SQL statement made inside one;
{% endif %}
trace and span IDs on the log lines written inside a span; nothing at all with tracing off."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
{% if values.sqlDatabase %}
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
{% else %}
from opentelemetry.trace import format_span_id, format_trace_id
{% endif %}

from conftest import Collector
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.logging import configure_logging
{% if values.sqlDatabase %}
from ${{ values.packageName }}.core.tracing import configure_tracing, traced_sql, tracing_enabled
{% else %}
from ${{ values.packageName }}.core.tracing import configure_tracing, tracing_enabled
{% endif %}

ReadLogs = Callable[[], list[dict[str, Any]]]
TenantHeaders = Callable[[str], dict[str, str]]
# A logger of the service's own: other libraries' INFO lines are not written.
OWN_LOGGER = "${{ values.packageName }}.tests"
TRACE_FIELDS = {"trace_id", "span_id"}

# One request with a token, a cookie and secrets in the query string, by the app as it runs
# in its container (its environment names the collector); the provider is shut down with
# the app, so every span has been sent when this ends.
REQUEST_PROBE = """
import json, os
from fastapi.testclient import TestClient
from ${{ values.packageName }}.main import create_app

headers = json.loads(os.environ["PROBE_HEADERS"])
with TestClient(create_app()) as client:
    response = client.get(
        "/api/v1/products?access_token=SECRET-QUERY&password=SECRET-PASSWORD",
        headers={**headers, "Cookie": "session=SECRET-COOKIE"},
    )
    assert response.status_code == 200, response.text
    # Readiness checks call the dependencies outside any request span.
    assert client.get("/health/ready").status_code == 200
"""


def run_probe(probe: str, headers: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PROBE_HEADERS": json.dumps(headers)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.usefixtures("base_env")
def test_request_spans_reach_the_collector_without_secrets(
    otlp_collector: Collector, tenant_headers: TenantHeaders
) -> None:
    headers = tenant_headers("t")

    run_probe(REQUEST_PROBE, headers)

    server = [span for span in otlp_collector.spans if span["scope"] == "fastapi"]
    assert [span["name"] for span in server] == ["GET /api/v1/products"]
    assert server[0]["service"] == "${{ values.name }}"
    # The probe is not traced, and neither are the calls of its checks.
    assert {span["trace_id"] for span in otlp_collector.spans} == {server[0]["trace_id"]}
    attributes = json.dumps([span["attributes"] for span in otlp_collector.spans])
    assert "access_token=" in attributes  # the query string is there, its values are not
    secrets = ["SECRET-QUERY", "SECRET-PASSWORD", "SECRET-COOKIE"]
    secrets += [value for name, value in headers.items() if name == "Authorization"]
    assert [secret for secret in secrets if secret in attributes] == []
{% if values.sqlDatabase %}
    # The request's statements are its children, one span each, and nothing else is.
    sql = [span for span in otlp_collector.spans if span["scope"] != "fastapi"]
    assert sql, otlp_collector.spans
    assert {span["parent_span_id"] for span in sql} == {server[0]["span_id"]}
    assert {span["name"] for span in sql} == {"SELECT"}
    assert {span["attributes"]["db.system.name"] for span in sql} == {"sqlite"}
{% endif %}


@pytest.mark.usefixtures("base_env")
def test_the_sampler_comes_from_the_otel_variables(
    otlp_collector: Collector, tenant_headers: TenantHeaders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")

    run_probe(REQUEST_PROBE, tenant_headers("t"))

    assert otlp_collector.spans == []


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids(
    settings: Settings, read_logs: ReadLogs
) -> None:
    configure_logging(settings)
    # A provider of the test's own: the global one can be set once per process.
    tracer = TracerProvider().get_tracer(__name__)

    with tracer.start_as_current_span("work") as span:
        structlog.get_logger(OWN_LOGGER).info("inside a span")
    structlog.get_logger(OWN_LOGGER).info("outside a span")

    inside, outside = read_logs()
    context = span.get_span_context()
    assert inside["trace_id"] == format_trace_id(context.trace_id)
    assert inside["span_id"] == format_span_id(context.span_id)
    assert outside.keys().isdisjoint(TRACE_FIELDS)


{% if values.sqlDatabase %}
@pytest.mark.anyio
async def test_statements_are_spans_only_inside_a_recorded_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(__name__)
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        with traced_sql([engine], tracer):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                with tracer.start_as_current_span("request") as request:
                    await connection.execute(text("SELECT :n"), {"n": "SECRET-VALUE"})
                    with pytest.raises(DBAPIError):
                        await connection.execute(text("SELEC 3"))
        with tracer.start_as_current_span("after the block"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 4"))
    finally:
        await engine.dispose()

    statements = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.CLIENT]
    assert [(span.name, span.status.status_code) for span in statements] == [
        ("SELECT", StatusCode.UNSET),
        ("SELEC", StatusCode.ERROR),
    ]
    parent = request.get_span_context().span_id
    assert [span.parent.span_id for span in statements if span.parent] == [parent, parent]
    assert statements[0].attributes == {
        "db.system.name": "sqlite",
        "db.operation.name": "SELECT",
        "db.query.text": "SELECT ?",
    }


{% endif %}
def test_without_an_endpoint_tracing_is_off(settings: Settings) -> None:
    assert not tracing_enabled()
    assert configure_tracing(settings) is None


def test_an_endpoint_with_the_sdk_disabled_leaves_tracing_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

    assert configure_tracing(settings) is None


@pytest.mark.usefixtures("base_env")
def test_with_tracing_off_nothing_is_instrumented_or_exported() -> None:
    """No provider, no exporter and its thread, no instrumentation: requests run as
    without tracing."""
    probe = (
        "import sys\n"
        "from opentelemetry import trace\n"
        "from ${{ values.packageName }}.main import create_app\n"
        "create_app()\n"
        "loaded = ('opentelemetry.exporter', 'opentelemetry.instrumentation')\n"
        "assert not [name for name in sys.modules if name.startswith(loaded)]\n"
        "assert type(trace.get_tracer_provider()).__name__ == 'ProxyTracerProvider'\n"
    )

    run_probe(probe, {})
