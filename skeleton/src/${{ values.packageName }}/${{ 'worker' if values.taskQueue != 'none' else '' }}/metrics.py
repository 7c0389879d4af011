"""The worker's Prometheus metrics, served at ``/metrics`` on ``WORKER_METRICS_PORT`` from its
start to its shutdown: each task's runs and their outcomes by task name, their duration, and
the backlog of the queue, read from the broker at each scrape."""

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self
from wsgiref.simple_server import WSGIServer

import redis
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from .queue_settings import TaskQueueSettings

logger = structlog.get_logger(__name__)

# A scrape waits this long at most for the broker; Prometheus's own scrape timeout is 10 s.
BACKLOG_TIMEOUT_SECONDS = 1.0
# Tasks call a webhook: from tens of milliseconds up to the time limit.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True, slots=True)
class TaskMetrics:
    """A run ends in one of three outcomes: succeeded, retried (it failed and runs again
    later) or failed (for good: the task raised with no retry left, or a permanent error)."""

    runs: Counter
    successes: Counter
    retries: Counter
    failures: Counter
    duration: Histogram

    @classmethod
    def of(cls, registry: CollectorRegistry, task_names: Iterable[str]) -> Self:
        metrics = cls(
            runs=Counter("task_runs", "Task runs started.", ("task",), registry=registry),
            successes=Counter(
                "task_successes", "Task runs that succeeded.", ("task",), registry=registry
            ),
            retries=Counter(
                "task_retries",
                "Task runs that failed and were scheduled to run again.",
                ("task",),
                registry=registry,
            ),
            failures=Counter(
                "task_failures",
                "Task runs that failed with no retry left (dead-lettered).",
                ("task",),
                registry=registry,
            ),
            duration=Histogram(
                "task_duration_seconds",
                "Time a task run took, whatever its outcome.",
                ("task",),
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
        )
        # Every series from the start at zero: a failure ratio needs its denominator.
        for name in task_names:
            for metric in (
                metrics.runs,
                metrics.successes,
                metrics.retries,
                metrics.failures,
                metrics.duration,
            ):
                metric.labels(task=name)
        return metrics


class QueueBacklog(Collector):
{% if values.taskQueue == 'arq' %}
    """``task_queue_backlog``, the jobs waiting in the broker's queue (those deferred for a
    retry included), and ``task_broker_up``: 0 when the broker did not answer in time, and
    that scrape then has no ``task_queue_backlog`` (it does not fail)."""
{% else %}
    """``task_queue_backlog``, the tasks waiting in the broker's queue, and ``task_broker_up``:
    0 when the broker did not answer in time, and that scrape then has no
    ``task_queue_backlog`` (it does not fail)."""
{% endif %}

    def __init__(self, broker: redis.Redis, queue_name: str) -> None:
        self._broker = broker
        self._queue_name = queue_name

    def describe(self) -> Iterator[Metric]:
        """The names, without reading the broker (the registry calls this on registration)."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        backlog, broker_up = self._families()
        try:
{% if values.taskQueue == 'celery' %}
            # Celery's Redis transport keeps a queue's messages in a list of its name.
            # Typed Any: the redis-py versions the worker allows type their commands differently.
            waiting: Any = self._broker.llen(self._queue_name)
{% else %}
            # arq keeps its queue in a sorted set of job IDs, scored by when each may run.
            # Typed Any: the redis-py versions the worker allows type their commands differently.
            waiting: Any = self._broker.zcard(self._queue_name)
{% endif %}
        except (RedisError, OSError) as error:
            logger.warning("task queue backlog not read", error=str(error))
            broker_up.add_metric([], 0)
            yield broker_up
            return
        backlog.add_metric([], waiting)
        broker_up.add_metric([], 1)
        yield backlog
        yield broker_up

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("task_queue_backlog", "Tasks waiting in the broker's queue."),
            GaugeMetricFamily(
                "task_broker_up", "1 when the scrape read the queue's backlog, 0 when it could not."
            ),
        )


class WorkerMetricsEndpoint:
    """Built with the worker's settings (no I/O); ``start()`` opens the broker client and the
    port, ``stop()`` closes both."""

    def __init__(self, settings: TaskQueueSettings, task_names: Iterable[str]) -> None:
        self._settings = settings
        self.registry = CollectorRegistry()
        self.tasks = TaskMetrics.of(self.registry, task_names)
        self._broker: redis.Redis | None = None
        self._backlog: QueueBacklog | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        assert self._settings.task_broker_url is not None, "checked by load_worker_settings"
        self._broker = redis.Redis.from_url(
            self._settings.task_broker_url.get_secret_value(),
            socket_connect_timeout=BACKLOG_TIMEOUT_SECONDS,
            socket_timeout=BACKLOG_TIMEOUT_SECONDS,
        )
        self._backlog = QueueBacklog(self._broker, self._settings.task_queue_name)
        self.registry.register(self._backlog)
        self._server, self._thread = start_http_server(
            self._settings.worker_metrics_port, registry=self.registry
        )
        logger.info("worker metrics served", metrics_port=self._server.server_port)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None
        if self._backlog is not None:
            self.registry.unregister(self._backlog)
            self._backlog = None
        if self._broker is not None:
            self._broker.close()
            self._broker = None
