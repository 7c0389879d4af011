"""Every metric that the alerts, the dashboard and the docs name is one the app exports at
``GET /metrics``, and every alert links to a section of the runbook."""

import re
{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
from collections.abc import Callable
{% endif %}
from pathlib import Path

{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
import pytest
from fastapi import FastAPI
{% endif %}
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
from pydantic import SecretStr

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.main import create_app
{% endif %}

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "k8s" / "monitoring"
# A metric selector (``name{``) in PromQL and in the docs; recorded series have a colon.
SELECTOR = re.compile(r"\b([a-zA-Z_][a-zA-Z0-9_]*(?::[a-zA-Z0-9_]+)*)\{")
# A metric the docs name in code without a selector.
NAMED_IN_CODE = re.compile(r"`([a-z][a-z0-9_]*_(?:total|seconds|bucket|count|sum|lag|pending))\b")
{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
# Nothing listens on port 1: every command sent there fails at once, and is counted.
CLOSED = SecretStr("redis://127.0.0.1:1/0")
{% endif %}
{% if values.datadog %}
# A metric in Datadog's queries: the agent's OpenMetrics check names it <namespace>.<name>, a
# counter's samples <name>.count, a histogram's <name>.bucket, .count and .sum.
DATADOG_METRIC = re.compile(r"\b${{ values.packageName }}\.([a-z_]+)(?:\.(count|bucket|sum))?\b")
{% endif %}
# The names a family is written under: a histogram's own name (its # TYPE line) and its
# samples'; a counter's samples end in _total.
SUFFIXES = {"counter": ("_total",), "histogram": ("", "_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported(text: str) -> set[str]:
    """Sample names of the scrape, and those of families declared without samples yet (a
    labelled counter has none until it counts)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def _named() -> dict[str, set[str]]:
    """Each metric named, with the files that name it{% if values.datadog %}; a Datadog metric is
    several names joined by "|", any of which will do{% endif %}."""
    sources = [MONITORING / "prometheus-rule.yaml", MONITORING / "dashboard.json"]
    sources += sorted((ROOT / "docs").glob("*.md"))
    named: dict[str, set[str]] = {}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        names = set(SELECTOR.findall(text))
        if path.suffix == ".md":
            names |= set(NAMED_IN_CODE.findall(text))
        for name in names:
            named.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
{% if values.datadog %}
    for path in sorted((ROOT / "datadog").glob("*.json")):
        for name, suffix in DATADOG_METRIC.findall(path.read_text(encoding="utf-8")):
            prometheus_names = {"count": (f"{name}_total", f"{name}_count")}.get(
                suffix, (f"{name}_{suffix}" if suffix else name,)
            )
            files = named.setdefault("|".join(prometheus_names), set())
            files.add(path.relative_to(ROOT).as_posix())
{% endif %}
    return named


{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
@pytest.fixture
def app(make_settings: Callable[..., Settings]) -> FastAPI:
    """The app as shipped, its {% if values.cache == 'elasticache-redis' %}cache{% endif %}{% if values.cache == 'elasticache-redis' and values.taskQueue != 'none' %} and {% endif %}{% if values.taskQueue != 'none' %}task broker{% endif %} unreachable."""
    return create_app(
        make_settings(
{% if values.cache == 'elasticache-redis' %}
            redis_url=CLOSED,
{% endif %}
{% if values.taskQueue != 'none' %}
            task_broker_url=CLOSED,
{% endif %}
        )
    )


{% endif %}
def test_every_metric_named_is_exported(client: TestClient) -> None:
    created = client.post("/api/v1/products", json={"name": "Lamp", "price": "9.99"})
    client.get(f"/api/v1/products/{created.json().get('id')}")
    client.get("/api/v1/products/00000000-0000-0000-0000-000000000000")
    client.get("/health/live")
    exported = _exported(client.get("/metrics").text)
    rules = (MONITORING / "prometheus-rule.yaml").read_text(encoding="utf-8")
    recorded = set(re.findall(r"- record: (\S+)", rules))
    named = _named()

    missing = {
        name: sorted(files)
        for name, files in named.items()
        if not set(name.split("|")) & (recorded if ":" in name else exported)
    }

    assert "http_requests_total" in named
    assert missing == {}


def test_every_alert_links_to_its_runbook_section() -> None:
    rules = (MONITORING / "prometheus-rule.yaml").read_text(encoding="utf-8")
    alerts = re.findall(r"- alert: (\w+)", rules)
    anchors = [url.rsplit("#", 1)[1] for url in re.findall(r"runbook_url: (\S+)", rules)]
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs" / "runbook.md").read_text(), re.MULTILINE)

    assert anchors == [alert.lower() for alert in alerts]
    assert sorted(headings) == sorted(alerts)
