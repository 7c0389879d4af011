{% if values.opentelemetry %}
"""With tracing off (no OTLP endpoint), FastAPI's native OpenTelemetry stays off too: a
global OpenTelemetry provider (an agent or library may install one) must not add spans to
every request."""
{% else %}
"""FastAPI's native OpenTelemetry stays off: the service has its own metrics${{ ' and Datadog APM' if values.datadog else '' }},
and a global OpenTelemetry provider (an agent or library may install one) must not add a
second set of spans to every request."""
{% endif %}

import json
import os
import subprocess
import sys

import pytest

# Installs a recording tracer provider as the global one, then serves one request with the
# app named by argv[1] (the service, or a bare FastAPI app as the control) and prints the
# names of the spans started meanwhile.
PROBE = """
import json, sys
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, Span, TracerProvider

started: list[str] = []


class RecordingTracer(NoOpTracer):
    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Span:
        started.append(name)
        return super().start_span(name, *args, **kwargs)


class RecordingTracerProvider(TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> RecordingTracer:
        return RecordingTracer()


trace.set_tracer_provider(RecordingTracerProvider())

from fastapi import FastAPI
from fastapi.testclient import TestClient

if sys.argv[1] == "service":
    from ${{ values.packageName }}.main import create_app

    app = create_app()
else:
    app = FastAPI()

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

assert TestClient(app).get("/health/live").status_code == 200
print(json.dumps(started))
"""


def spans_started(app: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, app],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    names: list[str] = json.loads(result.stdout.splitlines()[-1])
    return names


@pytest.mark.usefixtures("base_env")
def test_no_native_opentelemetry_spans() -> None:
    # The control: with the same provider, a default FastAPI app traces the request.
    assert "GET" in spans_started("bare")

    assert spans_started("service") == []
