"""OpenTelemetry: request spans sent to a collector over OTLP, without secrets; trace and
span IDs on the log lines written inside a span; nothing at all with tracing off."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id

from conftest import Collector
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.logging import configure_logging
from ${{ values.packageName }}.core.tracing import configure_tracing, tracing_enabled

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
