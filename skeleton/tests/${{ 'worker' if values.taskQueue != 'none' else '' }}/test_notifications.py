"""The "product created" notification end to end: the API enqueues it and real ${{ values.taskQueue }}
worker processes run it against the Redis at ``TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/14``). Each test has its own queue (and so its own Redis keys) and
deletes them afterwards. Those tests are marked ``redis``: without that Redis they are
skipped, except in CI. The worker's readiness probe is run as Kubernetes runs it, in a
temporary folder of the test's own (``TMPDIR``), against that Redis or a ``redis-server`` of
the test's own that it stops.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

{% if values.opentelemetry %}
from conftest import Collector, PrivateRedis, free_port, stop_process
{% else %}
from conftest import PrivateRedis, free_port, stop_process
{% endif %}
from ${{ values.packageName }} import worker as worker_package
from ${{ values.packageName }}.core.config import ENV_PREFIX, Settings
from ${{ values.packageName }}.core.correlation_id import CORRELATION_ID_HEADER
from ${{ values.packageName }}.main import create_app
{% if values.opentelemetry %}
from ${{ values.packageName }}.products.notifications.notice import TASK_NAME
{% endif %}
from ${{ values.packageName }}.worker.readiness import MAX_READY_AGE_SECONDS, ready_file

TenantHeaders = Callable[[str], dict[str, str]]
SetEnv = Callable[[str, str], None]
TENANT_ID = "tenant-notified"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
MAX_RETRIES = 2
TIME_LIMIT_SECONDS = 2
{% if values.taskQueue == 'celery' %}
# Redelivery of a task whose worker died: just above time limit + longest retry delay (1 s).
VISIBILITY_TIMEOUT_SECONDS = 4
WORKER_COMMAND = [sys.executable, "-m", "celery", "--app", f"{worker_package.__name__}.app"]
# One process; no waiting for the state of other workers (mingle) at start.
WORKER_COMMAND += ["worker", "--loglevel", "INFO", "--concurrency", "1", "--without-mingle"]
# The unacknowledged task comes back after the visibility timeout, to the next worker.
REDELIVERY_SECONDS = 25.0
# Logged when the worker consumes its queue, and while it cannot reach the broker.
READY_MESSAGE = " ready."
BROKER_DOWN_MESSAGE = "Cannot connect to redis://"
{% else %}
WORKER_COMMAND = [sys.executable, "-m", "arq", f"{worker_package.__name__}.settings.WorkerSettings"]
# arq runs a job again once its in-progress key expires: job timeout + 10 s.
REDELIVERY_SECONDS = 30.0
# Logged when the worker consumes its queue, and while it cannot reach the broker.
READY_MESSAGE = "Starting worker for"
BROKER_DOWN_MESSAGE = "redis connection error"
{% endif %}
# How soon a worker sent SIGTERM with no task running must have exited.
STOP_SECONDS = 10
# The worker's readinessProbe and startupProbe (k8s/worker-deployment.yaml).
READINESS_PROBE = [sys.executable, "-m", f"{worker_package.__name__}.readiness"]


@pytest.fixture
def broker() -> Iterator[Any]:
    """A client of the test Redis. Typed Any: the redis-py versions the worker allows
    type their commands differently."""
    client: Any = redis.Redis.from_url(
        REDIS_URL, socket_connect_timeout=1, socket_timeout=5, decode_responses=True
    )
    yield client
    client.close()


@dataclass
class Webhook:
    """An HTTP receiver that records each POST; its effect is keyed by Idempotency-Key, as a
    real receiver's should be."""

    url: str = ""
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    # While set, requests wait (up to 30 s) for ``release`` before answering.
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def effects(self) -> set[str]:
        return {request["idempotency_key"] for request in self.requests}


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    receiver = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            receiver.requests.append(
                {
                    "idempotency_key": self.headers["Idempotency-Key"],
                    "correlation_id": self.headers[CORRELATION_ID_HEADER],
{% if values.datadog %}
                    "trace_id": self.headers["x-datadog-trace-id"],
{% elif values.opentelemetry %}
                    "traceparent": self.headers["traceparent"],
{% endif %}
                    "body": body,
                }
            )
            receiver.arrived.set()
            if receiver.hold:
                receiver.release.wait(30)
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/products"
    yield receiver
    receiver.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def queue_name(base_env: SetEnv, webhook: Webhook, broker: Any) -> Iterator[str]:
    """A queue of this test's own, in the environment of the API and of the workers."""
    name = f"test-notifications-{uuid.uuid4().hex[:12]}"
    settings = {
        "TASK_BROKER_URL": REDIS_URL,
        "TASK_QUEUE_NAME": name,
        "NOTIFICATION_WEBHOOK_URL": webhook.url,
        "TASK_MAX_RETRIES": str(MAX_RETRIES),
        "TASK_RETRY_BACKOFF_MAX_SECONDS": "1",
        "TASK_TIME_LIMIT_SECONDS": str(TIME_LIMIT_SECONDS),
{% if values.taskQueue == 'celery' %}
        "TASK_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT_SECONDS),
{% endif %}
        "HTTP_CLIENT_TIMEOUT_SECONDS": "1",
        # Any free port: workers of tests running at the same time would share the default.
        "WORKER_METRICS_PORT": "0",
    }
    for key, value in settings.items():
        base_env(key, value)
    yield name
    keys = list(broker.scan_iter(f"{name}*"))
{% if values.taskQueue == 'celery' %}
    keys.append(f"_kombu.binding.{name}")
{% else %}
    # The jobs' own keys: every product of the test reached the webhook.
    job_ids = {request["idempotency_key"] for request in webhook.requests}
    keys += [f"arq:{kind}:{job}" for job in job_ids for kind in ("job", "result", "retry")]
{% endif %}
    if keys:  # none when the test enqueued nothing
        broker.delete(*keys)


@pytest.fixture
def api(queue_name: str, tenant_headers: TenantHeaders) -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings()), raise_server_exceptions=False, headers=tenant_headers(TENANT_ID)
    ) as client:
        yield client


@contextmanager
def worker(log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process (with its children) in the test's environment. At the end it is
    stopped as Kubernetes stops a container: SIGTERM to the main process only (a pool child
    that got it too would die mid-task), then SIGKILL to all of them if it does not stop."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            WORKER_COMMAND,
            env=dict(os.environ),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_process(process, timeout=20, group=True)


@pytest.fixture
def probe_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The worker's and the probe's temporary folder, /tmp in the pod: this test's own."""
    folder = tmp_path / "pod-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def ready() -> bool:
    probe = subprocess.run(
        READINESS_PROBE, env=dict(os.environ), capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def create_product(api: TestClient, correlation_id: str) -> str:
    response = api.post(
        "/api/v1/products",
        json={"name": "Widget", "price": "19.90"},
        headers={CORRELATION_ID_HEADER: correlation_id},
    )
    assert response.status_code == 201, response.text
    product_id: str = response.json()["id"]
    return product_id


def log_lines(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def lines_printed_twice(log: Path) -> list[str]:
    """Lines the worker wrote twice: a JSON line again, or its event again as plain text
    (a second handler on the way)."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    json_lines = [line for line in lines if line.startswith("{")]
    plain = [line for line in lines if line.strip() and not line.startswith("{")]
    events = [json.loads(line)["event"] for line in json_lines]
    repeated = sorted({line for line in json_lines if json_lines.count(line) > 1})
    return repeated + [event for event in events if any(text.endswith(event) for text in plain)]


def delivered_lines(log: Path) -> list[dict[str, Any]]:
    return [
        line for line in log_lines(log) if line["event"] == "product created notification delivered"
    ]


def delivered_key(queue_name: str, product_id: str) -> str:
    return f"{queue_name}:notifications:delivered:{product_id}"


@pytest.mark.redis
def test_task_enqueued_by_the_api_runs_once_with_the_request_correlation_id(
    api: TestClient,
    webhook: Webhook,
    broker: Any,
    queue_name: str,
    base_env: SetEnv,
    tmp_path: Path,
) -> None:
    # The worker logs its own DEBUG lines and the libraries' INFO lines, each once.
    base_env("LOG_LEVEL", "DEBUG")
    base_env("LOG_LEVEL_THIRD_PARTY", "INFO")
    log = tmp_path / "worker.log"
    with worker(log):
        product_id = create_product(api, "corr-created-1")
        wait_for(lambda: broker.exists(delivered_key(queue_name, product_id)), 20, "delivery")
    (request,) = webhook.requests
    assert request["idempotency_key"] == f"product-created-{product_id}"
    assert request["correlation_id"] == "corr-created-1"
    assert request["body"]["product_id"] == product_id
    task_lines = [line for line in log_lines(log) if line.get("product_id") == product_id]
    events = [line["event"] for line in task_lines]
    assert events.count("product created notification delivered") == 1
    assert {line["correlation_id"] for line in task_lines} == {"corr-created-1"}
    assert lines_printed_twice(log) == []
    own = ("${{ values.packageName }}.", "access")
    library_lines = [line for line in log_lines(log) if not line["logger"].startswith(own)]
    assert library_lines, "no INFO line of the task queue's library"
    assert [line for line in library_lines if line["level"] == "debug"] == []


@pytest.mark.redis
def test_a_failing_task_is_retried_then_dead_lettered(
    api: TestClient, webhook: Webhook, broker: Any, queue_name: str, tmp_path: Path
) -> None:
    webhook.status = 503
    log = tmp_path / "worker.log"
    dead_letters = f"{queue_name}:notifications:dead-letter"
    with worker(log):
        product_id = create_product(api, "corr-failing-1")
        wait_for(lambda: broker.llen(dead_letters), 30, "the dead-letter entry")
    assert len(webhook.requests) == MAX_RETRIES + 1
    assert webhook.effects == {f"product-created-{product_id}"}
    (entry,) = [json.loads(item) for item in broker.lrange(dead_letters, 0, -1)]
    assert entry["product_id"] == product_id
    assert entry["attempts"] == MAX_RETRIES + 1
    assert entry["correlation_id"] == "corr-failing-1"
    assert not broker.exists(delivered_key(queue_name, product_id))
    lines = [line for line in log_lines(log) if line.get("product_id") == product_id]
    retries = [line for line in lines if line["event"].endswith("will retry")]
    assert [line["attempt"] for line in retries] == list(range(1, MAX_RETRIES + 1))
    (failure,) = [line for line in lines if line["event"] == "product created notification failed"]
    assert failure["level"] == "error"
    assert {line["correlation_id"] for line in lines} == {"corr-failing-1"}


@pytest.mark.redis
def test_a_task_whose_worker_is_killed_runs_again_and_takes_effect_once(
    api: TestClient, webhook: Webhook, broker: Any, queue_name: str, tmp_path: Path
) -> None:
    webhook.hold = True
    with worker(tmp_path / "killed.log") as doomed:
        product_id = create_product(api, "corr-killed-1")
        assert webhook.arrived.wait(20), "the first worker never called the webhook"
        # Mid-task: the webhook call is in flight and the task not acknowledged.
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    webhook.hold = False
    webhook.release.set()
{% if values.taskQueue == 'celery' %}
    # Kombu's Redis transport hands unacknowledged tasks back when a worker starts after
    # their visibility timeout has passed, so the next worker starts after it.
    time.sleep(VISIBILITY_TIMEOUT_SECONDS + 0.5)
{% endif %}
    log = tmp_path / "worker.log"
    with worker(log):
        wait_for(
            lambda: broker.exists(delivered_key(queue_name, product_id)),
            REDELIVERY_SECONDS,
            "the redelivered task",
        )
    # Called again after the kill (a slow call on a loaded machine may be retried once more),
    # yet the effect happened once: every call carried the same idempotency key.
    assert len(webhook.requests) >= 2
    assert webhook.effects == {f"product-created-{product_id}"}
    (delivered,) = delivered_lines(log)
    assert delivered["product_id"] == product_id
    assert delivered["correlation_id"] == "corr-killed-1"


@pytest.mark.redis
def test_a_stopping_worker_finishes_the_running_task_first(
    api: TestClient, webhook: Webhook, broker: Any, queue_name: str, tmp_path: Path
) -> None:
    webhook.hold = True
    log = tmp_path / "worker.log"
    with worker(log) as stopping:
        product_id = create_product(api, "corr-stopping-1")
        assert webhook.arrived.wait(20), "the worker never called the webhook"
        stopping.terminate()
        # Shorter than the time limit: the task is still running when the webhook answers.
        time.sleep(TIME_LIMIT_SECONDS / 4)
        assert stopping.poll() is None, "the worker stopped without waiting for its task"
        webhook.release.set()
        assert stopping.wait(20) == 0
    # Delivered by the stopping worker itself, once: not left for redelivery.
    assert broker.exists(delivered_key(queue_name, product_id))
    assert len(webhook.requests) == 1
    assert [line["correlation_id"] for line in delivered_lines(log)] == ["corr-stopping-1"]


def log_text(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""


@pytest.mark.redis
@pytest.mark.usefixtures("probe_folder")
def test_an_idle_worker_is_ready_once_consuming_and_stops_within_seconds_of_sigterm(
    queue_name: str, base_env: SetEnv, tmp_path: Path
) -> None:
    base_env("LOG_LEVEL_THIRD_PARTY", "INFO")  # the worker's own "ready" line is INFO
    log = tmp_path / "worker.log"
    assert not ready()
    with worker(log) as idle:
        wait_for(ready, 60, "the readiness probe to pass")
        # The probe file is written as consumption starts; the log line may follow it.
        wait_for(lambda: READY_MESSAGE in log_text(log), 10, "the worker's ready line")
        idle.terminate()
        assert idle.wait(STOP_SECONDS) == 0
    assert not ready()


@pytest.mark.usefixtures("probe_folder")
def test_a_worker_whose_broker_is_down_is_not_ready_and_stops_within_seconds_of_sigterm(
    base_env: SetEnv, tmp_path: Path
) -> None:
    base_env("TASK_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    log = tmp_path / "worker.log"
    with worker(log) as waiting:
        wait_for(lambda: BROKER_DOWN_MESSAGE in log_text(log), 60, "a connection attempt")
        assert not ready()
        waiting.terminate()
        waiting.wait(STOP_SECONDS)


@pytest.mark.redis
@pytest.mark.usefixtures("probe_folder")
def test_a_worker_is_not_ready_while_its_broker_is_down(
    queue_name: str, base_env: SetEnv, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    base_env("TASK_BROKER_URL", private_redis.url)
    log = tmp_path / "worker.log"
    with worker(log) as consuming:
        wait_for(ready, 60, "the readiness probe to pass")
{% if values.taskQueue == 'arq' %}
        # A broker that does not answer: its pings time out.
        private_redis.pause()
        wait_for(lambda: not ready(), 15, "the readiness probe to fail")
{% endif %}
        private_redis.stop()
{% if values.taskQueue == 'celery' %}
        # Celery drops the consumer and reconnects; consuming again, it is ready again.
        wait_for(lambda: not ready(), 15, "the readiness probe to fail")
        private_redis.start()
        wait_for(ready, 30, "the readiness probe to pass again")
        assert consuming.poll() is None
{% else %}
        # A broker gone: arq stops (Kubernetes starts it again), and its ready file goes.
        wait_for(lambda: not ready(), 15, "the readiness probe to fail")
        assert consuming.wait(STOP_SECONDS) != 0
{% endif %}


def test_a_ready_file_left_over_by_a_killed_worker_goes_stale(probe_folder: Path) -> None:
    left_over = probe_folder / ready_file().name
    left_over.touch()
    assert ready()
    stale = time.time() - MAX_READY_AGE_SECONDS - 1
    os.utime(left_over, (stale, stale))
    assert not ready()


@pytest.mark.parametrize("environment", ["local", "production"])
def test_a_worker_without_a_broker_url_refuses_to_start_with_one_line(
    base_env: SetEnv, environment: str
) -> None:
    """Locally the API runs the tasks itself then; a worker would wait for tasks forever."""
    base_env("ENVIRONMENT", environment)
    result = subprocess.run(
        WORKER_COMMAND,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    # The one line names the setting (a deployment gets the settings' own error).
    (line,) = [line for line in result.stderr.splitlines() if "TASK_BROKER_URL" in line]
    assert f"{ENV_PREFIX}TASK_BROKER_URL" in line
    assert "Traceback" not in result.stderr
    if environment == "local":
        assert result.stderr.splitlines() == [line]
        assert line.startswith(f"{ENV_PREFIX}TASK_BROKER_URL is not set: ")


def test_without_a_broker_the_notification_runs_in_the_api_process(
    base_env: SetEnv,
    webhook: Webhook,
    read_logs: Callable[[], list[dict[str, Any]]],
    tenant_headers: TenantHeaders,
) -> None:
    base_env("NOTIFICATION_WEBHOOK_URL", webhook.url)
    with TestClient(create_app(Settings()), headers=tenant_headers(TENANT_ID)) as api:
        product_id = create_product(api, "corr-local-1")
        assert webhook.arrived.wait(10), "the notification was not delivered"
    (request,) = webhook.requests
    assert request["idempotency_key"] == f"product-created-{product_id}"
    assert request["correlation_id"] == "corr-local-1"
    (delivered,) = [
        line for line in read_logs() if line["event"] == "product created notification delivered"
    ]
    assert delivered["product_id"] == product_id
    assert delivered["correlation_id"] == "corr-local-1"
{% if values.datadog %}


# The API as it runs in its container, instrumented as ddtrace-run does it.
TRACED_API_PROBE = """
import json, os
import ddtrace
{% if values.taskQueue == 'celery' %}
ddtrace.patch(fastapi=True, celery=True)
{% else %}
ddtrace.patch(fastapi=True)
{% endif %}
from fastapi.testclient import TestClient
from ${{ values.packageName }}.main import create_app

with TestClient(create_app()) as client:
    response = client.post(
        "/api/v1/products",
        json={"name": "Widget", "price": "19.90"},
        headers=json.loads(os.environ["PROBE_HEADERS"]),
    )
assert response.status_code == 201, response.text
"""


@pytest.fixture
def datadog_agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stand-in agent that takes whatever is sent and drops it: the API keeps tracing on
    (locally it turns it off when no agent listens), and no process logs failed sends."""

    class Agent(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Agent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DD_TRACE_AGENT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield
    server.shutdown()
    server.server_close()


@pytest.mark.redis
@pytest.mark.usefixtures("datadog_agent")
def test_the_request_trace_continues_through_the_task_into_the_webhook_call(
    base_env: SetEnv,
    queue_name: str,
    webhook: Webhook,
    tenant_headers: TenantHeaders,
    tmp_path: Path,
) -> None:
    base_env("DATADOG_ENABLED", "true")
    trace_id = 5240218394713846513
    headers = {
        **tenant_headers(TENANT_ID),
        CORRELATION_ID_HEADER: "corr-traced-1",
        # A caller's trace, which the API's request span continues.
        "x-datadog-trace-id": str(trace_id),
        "x-datadog-parent-id": "2718281828459045",
        "x-datadog-sampling-priority": "1",
    }
    # The probe's test client is no caller: its traced request must not start a trace of
    # its own, which the API would continue instead of the one in the headers.
    probe_env = {
        **os.environ,
        "PROBE_HEADERS": json.dumps(headers),
        "DD_HTTPX2_DISTRIBUTED_TRACING": "false",
    }
    log = tmp_path / "worker.log"
    with worker(log):
        result = subprocess.run(
            [sys.executable, "-c", TRACED_API_PROBE],
            env=probe_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        # Not stopped before the task logged its delivery: on SIGTERM ddtrace stops tracing.
        wait_for(lambda: delivered_lines(log), 20, "the delivery")
    (request,) = webhook.requests
    assert request["trace_id"] == str(trace_id)
    (delivered,) = delivered_lines(log)
    assert delivered["product_id"] == request["body"]["product_id"]
    assert delivered["dd.trace_id"] == str(trace_id)
{% elif values.opentelemetry %}


# The API as it runs in its container; the caller's requests carry its trace (traceparent).
TRACED_API_PROBE = """
import json, os
from fastapi.testclient import TestClient
from ${{ values.packageName }}.main import create_app

headers = json.loads(os.environ["PROBE_HEADERS"])
with TestClient(create_app()) as client:
    created = client.post(
        "/api/v1/products", json={"name": "Widget", "price": "19.90"}, headers=headers
    )
    assert created.status_code == 201, created.text
{% if values.cache == 'elasticache-redis' %}
    # Read twice: the first read fills the cache, the second is served from it.
    for _ in range(2):
        read = client.get(f"/api/v1/products/{created.json()['id']}", headers=headers)
        assert read.status_code == 200, read.text
{% endif %}
"""
# OTLP span kinds.
SERVER, CLIENT, CONSUMER = 2, 3, 5
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


{% if values.taskQueue == 'celery' %}
def is_task_run(span: dict[str, Any]) -> bool:
    return bool(span["kind"] == CONSUMER and span["name"] == f"run/{TASK_NAME}")
{% else %}
def is_task_run(span: dict[str, Any]) -> bool:
    return bool(span["kind"] == CONSUMER and span["name"] == f"arq.job {TASK_NAME}")
{% endif %}


@pytest.mark.redis
{% if values.sqlDatabase %}
@pytest.mark.database
{% endif %}
def test_one_trace_spans_the_request_its_calls_and_the_task_a_worker_ran(
    base_env: SetEnv,
    queue_name: str,
    webhook: Webhook,
    tenant_headers: TenantHeaders,
    otlp_collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
{% if values.sqlDatabase %}
    empty_database: str,
{% endif %}
) -> None:
{% if values.sqlDatabase %}
    base_env("DATABASE_URL", empty_database)
{% endif %}
{% if values.cache == 'elasticache-redis' %}
    base_env("REDIS_URL", REDIS_URL)
{% endif %}
    headers = {
        **tenant_headers(TENANT_ID),
        CORRELATION_ID_HEADER: "corr-traced-1",
        "traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01",
    }
    monkeypatch.setenv("PROBE_HEADERS", json.dumps(headers))
    log = tmp_path / "worker.log"
    with worker(log):
        result = subprocess.run(
            [sys.executable, "-c", TRACED_API_PROBE],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        wait_for(lambda: delivered_lines(log), 20, "the delivery")
        wait_for(
            lambda: any(is_task_run(span) for span in otlp_collector.trace(CALLER_TRACE_ID)),
            20,
            "the span of the task",
        )
    spans = otlp_collector.trace(CALLER_TRACE_ID)
    # One tree: every span's parent is the caller's span or another span of the trace.
    span_ids = {span["span_id"] for span in spans} | {CALLER_SPAN_ID}
    assert [span for span in spans if span["parent_span_id"] not in span_ids] == []
    server = [span for span in spans if span["kind"] == SERVER and span["scope"] == "fastapi"]
    assert {span["attributes"]["http.request.method"] for span in server} >= {"POST"}
{% if values.sqlDatabase %}
    sql = [span for span in spans if "db.query.text" in span["attributes"]]
    assert "INSERT" in {span["name"] for span in sql}, sql
{% elif values.database == 'dynamodb' %}
    dynamodb = {span["attributes"].get("rpc.method") for span in spans if span["kind"] == CLIENT}
    assert "PutItem" in dynamodb, spans
{% endif %}
{% if values.cache == 'elasticache-redis' %}
    redis_commands = {span["name"] for span in spans if "redis" in span["scope"]}
    assert {"GET", "SET"} <= redis_commands, redis_commands
{% endif %}
    (task,) = [span for span in spans if is_task_run(span)]
    # The webhook call from inside the task: its span, and the trace context it carried.
    (request,) = webhook.requests
    call = [span for span in spans if span["attributes"].get("url.full") == webhook.url]
    assert [span["kind"] for span in call] == [CLIENT]
    assert request["traceparent"].split("-")[1] == CALLER_TRACE_ID
    assert request["traceparent"].split("-")[2] == call[0]["span_id"]
    # The worker's log line of the delivery is linked to the trace.
    (delivered,) = delivered_lines(log)
    assert delivered["trace_id"] == CALLER_TRACE_ID
    assert task["service"] == "${{ values.name }}"
{% endif %}
