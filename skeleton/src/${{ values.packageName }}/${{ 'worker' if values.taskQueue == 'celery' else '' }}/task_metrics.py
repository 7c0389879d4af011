"""The Celery side of ``worker.metrics``. Tasks run in the pool's child processes, whose
counters the main process could not serve: each run is counted in the main process instead,
by its request, from what the pool reports back (accepted, then succeeded, retried or failed)."""

import time
from typing import Any

from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery import bootsteps
from celery.exceptions import Retry
from celery.worker.request import Request

from ..products.notifications.notice import TASK_NAME
from .metrics import TaskMetrics, WorkerMetricsEndpoint

# Where MeasuredRequest finds the metrics: the worker's configuration, set when it starts.
TASK_METRICS_KEY = "task_metrics"


class MetricsEndpoint(bootsteps.StartStopStep):
    """A step of the worker: the endpoint serves from the worker's start to its shutdown."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._endpoint: WorkerMetricsEndpoint | None = None

    def start(self, parent: Any) -> None:
        self._endpoint = WorkerMetricsEndpoint(parent.app.conf["service_settings"], [TASK_NAME])
        parent.app.conf[TASK_METRICS_KEY] = self._endpoint.tasks
        self._endpoint.start()

    def stop(self, parent: Any) -> None:
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None


class MeasuredRequest(Request):
    """The request class of every task (``task_annotations`` in ``worker.app``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The worker runs a subclass of this class with an on_success of its own, which does
        # not call this one: it is wrapped so that the run is still counted.
        super().__init_subclass__(**kwargs)
        own_on_success = cls.__dict__.get("on_success")
        if own_on_success is None:
            return

        def on_success(self: MeasuredRequest, failed__retval__runtime: Any, **kw: Any) -> Any:
            handled = own_on_success(self, failed__retval__runtime, **kw)
            self._count_returned(failed=failed__retval__runtime[0])
            return handled

        cls.on_success = on_success  # type: ignore[method-assign]

    def _metrics(self) -> TaskMetrics | None:
        metrics: TaskMetrics | None = self.task.app.conf.get(TASK_METRICS_KEY)
        return metrics

    def on_accepted(self, pid: str, time_accepted: float) -> None:
        if (metrics := self._metrics()) is not None:
            metrics.runs.labels(task=self.name).inc()
        super().on_accepted(pid, time_accepted)

    def on_success(self, failed__retval__runtime: Any, **kwargs: Any) -> Any:
        handled = super().on_success(failed__retval__runtime, **kwargs)
        self._count_returned(failed=failed__retval__runtime[0])
        return handled

    def _count_returned(self, *, failed: bool) -> None:
        """A run the pool returned, whatever its outcome: its duration since the pool accepted
        it, and a success (failures come through on_failure, retries through on_retry)."""
        if (metrics := self._metrics()) is None:
            return
        if self.time_start is not None:
            metrics.duration.labels(task=self.name).observe(time.time() - self.time_start)
        if not failed:
            metrics.successes.labels(task=self.name).inc()

    def on_retry(self, exc_info: ExceptionInfo) -> None:
        if (metrics := self._metrics()) is not None:
            metrics.retries.labels(task=self.name).inc()
        super().on_retry(exc_info)

    def on_failure(
        self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        # A retry passes here on its way to on_retry; a task whose process died is delivered
        # again (task_reject_on_worker_lost), so neither has failed for good.
        exception = getattr(exc_info.exception, "exc", exc_info.exception)
        ended = not isinstance(exception, Retry | WorkerLostError)
        if ended and (metrics := self._metrics()) is not None:
            metrics.failures.labels(task=self.name).inc()
        super().on_failure(exc_info, send_failed_event, return_ok)
