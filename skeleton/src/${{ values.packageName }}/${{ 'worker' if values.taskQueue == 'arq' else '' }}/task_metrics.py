"""The arq side of ``worker.metrics``: each task function is wrapped to count its runs."""

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry
from arq.typing import WorkerCoroutine

from .metrics import TaskMetrics

TaskFunction = Callable[..., Awaitable[None]]


def measured(task: TaskFunction, name: str, metrics: TaskMetrics) -> WorkerCoroutine:
    """A run that raises ``Retry`` is retried, any other exception fails it for good (the task
    dead-letters before raising). A run cancelled (the worker stops) has a duration only."""

    @functools.wraps(task)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        metrics.runs.labels(task=name).inc()
        started = time.perf_counter()
        try:
            await task(ctx, *args, **kwargs)
        except Retry:
            metrics.retries.labels(task=name).inc()
            raise
        except Exception:
            metrics.failures.labels(task=name).inc()
            raise
        else:
            metrics.successes.labels(task=name).inc()
        finally:
            metrics.duration.labels(task=name).observe(time.perf_counter() - started)

    return run
