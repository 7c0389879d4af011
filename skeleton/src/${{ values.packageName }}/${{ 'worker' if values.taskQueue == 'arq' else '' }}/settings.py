"""The arq worker's configuration."""

import asyncio
import atexit
import json
import logging
from contextlib import AsyncExitStack
from typing import Any

from arq import ArqRedis
from arq.connections import RedisSettings
from arq.worker import func
from redis.exceptions import RedisError

from ..core.config import Settings, load_worker_settings
from ..core.http_client import create_http_client
from ..core.logging import configure_logging
from ..core.redis import BROKER_TIMEOUT_SECONDS
{% if values.traced %}
from ..core.tracing import configure_tracing
{% endif %}
from ..products.notifications.delivery import DeliveryLedger
from ..products.notifications.notice import TASK_NAME
from .metrics import WorkerMetricsEndpoint
from .queue_settings import TaskQueueSettings
from .readiness import READY_INTERVAL_SECONDS, mark_not_ready, mark_ready
from .task_metrics import measured
from .tasks import notify_product_created

# How often the worker writes its health-check key (read by `arq --check`).
HEALTH_CHECK_INTERVAL_SECONDS = 30
KEEP_RESULT_SECONDS = 24 * 3600


def serialize(data: dict[str, Any]) -> bytes:
    """JSON instead of arq's default, pickle: reading a job must not run code. Values JSON
    cannot hold (the exception of a failed job) are stored as their repr."""
    return json.dumps(data, default=repr).encode()


def deserialize(data: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def redis_settings(settings: TaskQueueSettings) -> RedisSettings:
    assert settings.task_broker_url is not None, "checked by load_worker_settings"
    broker = RedisSettings.from_dsn(settings.task_broker_url.get_secret_value())
    broker.conn_timeout = 5
    return broker


async def report_readiness(redis: ArqRedis) -> None:
    """Keeps the ready file (``worker.readiness``) while the broker answers. It runs in the
    worker's event loop beside the polling, so a blocked loop stops it too."""
    while True:
        try:
            async with asyncio.timeout(BROKER_TIMEOUT_SECONDS):
                await redis.ping()
        except (RedisError, OSError, TimeoutError):
            mark_not_ready()
        else:
            mark_ready()
        await asyncio.sleep(READY_INTERVAL_SECONDS)


def worker_settings(settings: Settings) -> dict[str, Any]:
    """At-least-once delivery: a job stays queued until it finishes, and is run again when
    its worker died (once its in-progress key expires, 10 s after the job timeout), so jobs
    must be idempotent."""
    metrics = WorkerMetricsEndpoint(settings, [TASK_NAME])

    async def startup(ctx: dict[str, Any]) -> None:
        # arq's command line gives its logger a plain-text handler and level of its own;
        # with the service's handler on the root logger each line would print twice.
        arq_logger = logging.getLogger("arq")
        arq_logger.handlers.clear()
        arq_logger.setLevel(logging.NOTSET)
        configure_logging(settings)
{% if values.datadog %}
        configure_tracing(settings)
{% endif %}
        stack = AsyncExitStack()
        ctx["exit_stack"] = stack
{% if values.opentelemetry %}
        tracer_provider = configure_tracing(settings)
        if tracer_provider is not None:
            # Last out: the spans of the jobs that finish while the worker stops are sent.
            stack.push_async_callback(asyncio.to_thread, tracer_provider.shutdown)
{% endif %}
        ctx["settings"] = settings
        ctx["http_client"] = await stack.enter_async_context(create_http_client(settings))
        ctx["ledger"] = DeliveryLedger(ctx["redis"], settings.task_queue_name)
        # Started last: the worker is connected and its functions registered. The file goes
        # when the process exits, also when arq stops on a lost broker without a shutdown.
        readiness = asyncio.create_task(report_readiness(ctx["redis"]))
        stack.callback(readiness.cancel)
        atexit.register(mark_not_ready)
        metrics.start()
        stack.callback(metrics.stop)

    async def shutdown(ctx: dict[str, Any]) -> None:
        stack: AsyncExitStack = ctx["exit_stack"]
        await stack.aclose()

    return {
        "functions": [
            func(measured(notify_product_created, TASK_NAME, metrics.tasks), name=TASK_NAME)
        ],
        "redis_settings": redis_settings(settings),
        "queue_name": settings.task_queue_name,
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "job_timeout": settings.task_time_limit_seconds,
        # The first attempt and the retries; the task dead-letters after its last one.
        "max_tries": settings.task_max_retries + 1,
        "keep_result": KEEP_RESULT_SECONDS,
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        # On SIGTERM, let running jobs finish (up to their timeout) before stopping.
        "job_completion_wait": settings.task_time_limit_seconds,
        # Jobs of one worker run concurrently in its event loop: webhook calls mostly wait.
        "max_jobs": 10,
    }


def __getattr__(name: str) -> dict[str, Any]:
    """``arq ....WorkerSettings`` needs a module attribute. It is built on first access,
    when arq starts, so importing this module reads no settings."""
    if name == "WorkerSettings":
        return worker_settings(load_worker_settings())
    raise AttributeError(name)
