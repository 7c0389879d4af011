{% if values.taskQueue != 'none' %}
"""Every metric that the alerts, the dashboard and the docs name is one the app exports at
``GET /metrics`` or the ${{ values.taskQueue }} worker at its own ``/metrics`` (a real worker process
against the Redis at ``TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/14``), and every
alert links to a section of the runbook."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
{% else %}
"""Every metric that the alerts, the dashboard and the docs name is one the app exports at
``GET /metrics``, and every alert links to a section of the runbook."""

import re
{% if values.cache == 'elasticache-redis' %}
from collections.abc import Callable
{% endif %}
from pathlib import Path
{% endif %}

{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
import pytest
{% endif %}
{% if values.taskQueue != 'none' %}
import redis
{% endif %}
{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
from fastapi import FastAPI
{% endif %}
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
from pydantic import SecretStr

{% if values.taskQueue != 'none' %}
from conftest import stop_process
from ${{ values.packageName }} import worker as worker_package
{% endif %}
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.main import create_app
{% endif %}
{% if values.taskQueue != 'none' %}
from ${{ values.packageName }}.products.notifications.notice import TASK_NAME
from ${{ values.packageName }}.worker.metrics import QueueBacklog
{% endif %}

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "k8s" / "monitoring"
# A metric selector (``name{``) in PromQL and in the docs; recorded series have a colon.
SELECTOR = re.compile(r"\b([a-zA-Z_][a-zA-Z0-9_]*(?::[a-zA-Z0-9_]+)*)\{")
# A metric the docs name in code without a selector.
{% if values.taskQueue != 'none' %}
NAMED_IN_CODE = re.compile(
    r"`([a-z][a-z0-9_]*_(?:total|seconds|bucket|count|sum|lag|pending|backlog|up))\b"
)
{% else %}
NAMED_IN_CODE = re.compile(r"`([a-z][a-z0-9_]*_(?:total|seconds|bucket|count|sum|lag|pending))\b")
{% endif %}
{% if values.cache == 'elasticache-redis' or values.taskQueue != 'none' %}
# Nothing listens on port 1: every command sent there fails at once, and is counted.
CLOSED = SecretStr("redis://127.0.0.1:1/0")
{% endif %}
{% if values.taskQueue != 'none' %}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
{% if values.taskQueue == 'celery' %}
WORKER_COMMAND = [sys.executable, "-m", "celery", "--app", f"{worker_package.__name__}.app"]
WORKER_COMMAND += ["worker", "--loglevel", "INFO", "--concurrency", "1", "--without-mingle"]
{% else %}
WORKER_COMMAND = [sys.executable, "-m", "arq", f"{worker_package.__name__}.settings.WorkerSettings"]
{% endif %}
TenantHeaders = Callable[[str], dict[str, str]]
SetEnv = Callable[[str, str], None]
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
{% if values.taskQueue != 'none' %}
@dataclass
class WorkerProcess:
    queue_name: str
    metrics_url: str
    # Redis keys the test made, deleted at the end with the queue's own.
    keys: list[str] = field(default_factory=list)

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text: str = response.read().decode()
        return text


def _metrics_url(log: Path, process: subprocess.Popen[bytes]) -> str:
    """The URL of the port the worker logged it serves its metrics on."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{") and json.loads(line)["event"] == "worker metrics served":
                return f"http://127.0.0.1:{json.loads(line)['metrics_port']}/metrics"
        time.sleep(0.1)
    pytest.fail(f"the worker did not serve its metrics:\n{log.read_text(errors='replace')}")


@pytest.fixture
def worker(base_env: SetEnv, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real worker on a queue of this test's own, serving its metrics on a free port. Its
    webhook cannot be reached and it retries nothing: each task fails for good at once."""
    queue_name = f"test-monitoring-{uuid.uuid4().hex[:12]}"
    settings = {
        "TASK_BROKER_URL": REDIS_URL,
        "TASK_QUEUE_NAME": queue_name,
        "TASK_MAX_RETRIES": "0",
        "NOTIFICATION_WEBHOOK_URL": "http://127.0.0.1:1/hooks/products",
        "HTTP_CLIENT_TIMEOUT_SECONDS": "1",
        "WORKER_METRICS_PORT": "0",
    }
    for key, value in settings.items():
        base_env(key, value)
    log = tmp_path / "worker.log"
    broker: Any = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=5)
    with log.open("ab") as output:
        process = subprocess.Popen(
            WORKER_COMMAND, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT
        )
    running = WorkerProcess(queue_name, "")
    try:
        running.metrics_url = _metrics_url(log, process)
        yield running
    finally:
        stop_process(process, timeout=20)
        keys = [*broker.scan_iter(f"{queue_name}*"), *running.keys]
{% if values.taskQueue == 'celery' %}
        keys.append(f"_kombu.binding.{queue_name}")
{% endif %}
        if keys:  # none when the test enqueued nothing
            broker.delete(*keys)
        broker.close()


def _value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.mark.redis
def test_every_metric_named_is_exported(client: TestClient, worker: WorkerProcess) -> None:
    """By the API or by the worker."""
{% else %}
def test_every_metric_named_is_exported(client: TestClient) -> None:
{% endif %}
    created = client.post("/api/v1/products", json={"name": "Lamp", "price": "9.99"})
    client.get(f"/api/v1/products/{created.json().get('id')}")
    client.get("/api/v1/products/00000000-0000-0000-0000-000000000000")
    client.get("/health/live")
    exported = _exported(client.get("/metrics").text)
{% if values.taskQueue != 'none' %}
    exported |= _exported(worker.scrape())
{% endif %}
    rules = (MONITORING / "prometheus-rule.yaml").read_text(encoding="utf-8")
    recorded = set(re.findall(r"- record: (\S+)", rules))
    named = _named()

    missing = {
        name: sorted(files)
        for name, files in named.items()
        if not set(name.split("|")) & (recorded if ":" in name else exported)
    }

    assert "http_requests_total" in named
{% if values.taskQueue != 'none' %}
    assert {"task_failures_total", "task_queue_backlog"} <= named.keys()
{% endif %}
    assert missing == {}
{% if values.taskQueue != 'none' %}


@pytest.mark.redis
def test_a_failing_task_moves_the_worker_failure_counter(
    worker: WorkerProcess, tenant_headers: TenantHeaders
) -> None:
    before = worker.scrape()
    assert _value(before, "task_failures_total", task=TASK_NAME) == 0
    assert _value(before, "task_queue_backlog") == 0
    assert _value(before, "task_broker_up") == 1

{% if values.events == 'redis-streams' %}
    # The app stays up until the failure is counted: its event consumer queues the task a
    # moment after the response.
{% endif %}
    with TestClient(create_app(Settings()), headers=tenant_headers("tenant-monitored")) as api:
        created = api.post("/api/v1/products", json={"name": "Lamp", "price": "9.99"})
        assert created.status_code == 201, created.text
{% if values.taskQueue == 'arq' %}
        job_id = f"product-created-{created.json()['id']}"
        worker.keys += [f"arq:{kind}:{job_id}" for kind in ("job", "result", "retry")]
{% endif %}
        # Long enough for a worker that starts slowly on a busy machine.
        deadline = time.monotonic() + 60
        while _value(worker.scrape(), "task_failures_total", task=TASK_NAME) != 1:
            assert time.monotonic() < deadline, "the failure was not counted"
            time.sleep(0.2)

    after = worker.scrape()
    assert _value(after, "task_runs_total", task=TASK_NAME) == 1
    assert _value(after, "task_successes_total", task=TASK_NAME) == 0
    assert _value(after, "task_retries_total", task=TASK_NAME) == 0
    assert _value(after, "task_duration_seconds_count", task=TASK_NAME) == 1


def test_the_worker_pods_expose_the_port_the_worker_serves_its_metrics_on(
    settings: Settings,
) -> None:
    deployment = (ROOT / "k8s" / "worker-deployment.yaml").read_text(encoding="utf-8")
    port = settings.worker_metrics_port
    assert f'prometheus.io/port: "{port}"' in deployment
    assert f"containerPort: {port}" in deployment
{% if values.datadog %}
    assert f"http://%%host%%:{port}/metrics" in deployment
{% endif %}


@pytest.mark.redis
def test_the_backlog_counts_the_tasks_waiting_and_is_left_out_when_the_broker_is_down(
    base_env: SetEnv, tenant_headers: TenantHeaders
) -> None:
    queue_name = f"test-backlog-{uuid.uuid4().hex[:12]}"
    base_env("TASK_BROKER_URL", REDIS_URL)
    base_env("TASK_QUEUE_NAME", queue_name)
    broker: Any = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=5)
    closed: Any = redis.Redis.from_url(CLOSED.get_secret_value(), socket_connect_timeout=1)
{% if values.taskQueue == 'celery' %}
    keys = [queue_name, f"_kombu.binding.{queue_name}"]
{% else %}
    keys = [queue_name]
{% endif %}
    try:
        # No worker: the tasks the API enqueues wait in the queue.
        with TestClient(create_app(Settings()), headers=tenant_headers("tenant-backlog")) as api:
            for name in ("Lamp", "Desk"):
                created = api.post("/api/v1/products", json={"name": name, "price": "9.99"})
                assert created.status_code == 201, created.text
{% if values.taskQueue == 'arq' %}
                keys.append(f"arq:job:product-created-{created.json()['id']}")
{% endif %}
{% if values.events == 'redis-streams' %}
            # The event consumer queues each notification a moment after the response.
{% endif %}
            deadline = time.monotonic() + 10
            while True:
                families = QueueBacklog(broker, queue_name).collect()
                waiting = {family.name: family for family in families}
                backlog = [sample.value for sample in waiting["task_queue_backlog"].samples]
                if backlog == [2] or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        down = {family.name: family for family in QueueBacklog(closed, queue_name).collect()}
    finally:
        broker.delete(*keys)
        broker.close()
        closed.close()

    assert [sample.value for sample in waiting["task_queue_backlog"].samples] == [2]
    assert [sample.value for sample in waiting["task_broker_up"].samples] == [1]
    assert list(down) == ["task_broker_up"]
    assert [sample.value for sample in down["task_broker_up"].samples] == [0]
{% endif %}


def test_every_alert_links_to_its_runbook_section() -> None:
    rules = (MONITORING / "prometheus-rule.yaml").read_text(encoding="utf-8")
    alerts = re.findall(r"- alert: (\w+)", rules)
    anchors = [url.rsplit("#", 1)[1] for url in re.findall(r"runbook_url: (\S+)", rules)]
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs" / "runbook.md").read_text(), re.MULTILINE)

    assert anchors == [alert.lower() for alert in alerts]
    assert sorted(headings) == sorted(alerts)
