"""The Celery application and its configuration."""

import ssl
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from celery import Celery, signals

from ..core.config import Settings, load_worker_settings
from ..core.logging import configure_logging
{% if values.traced %}
from ..core.tracing import configure_tracing
{% endif %}
from ..products.notifications.notice import TASK_NAME
from .heartbeat import Heartbeat, Readiness
from .task_metrics import MetricsEndpoint

# Worker processes per pod. Celery's default, the CPU count, is the node's in a container.
WORKER_CONCURRENCY = 2


def celery_config(settings: Settings) -> dict[str, Any]:
    """At-least-once delivery: a task is acknowledged only after it ran, and redelivered if
    its worker dies, so tasks must be idempotent. Without a broker URL (local work only)
    tasks run eagerly, in the process that sends them."""
    broker_url = settings.task_broker_url.get_secret_value() if settings.task_broker_url else None
    return {
        "broker_url": broker_url or "memory://",
        "task_always_eager": broker_url is None,
        # ElastiCache with in-transit encryption: rediss://, certificates verified.
        "broker_use_ssl": (
            {"ssl_cert_reqs": ssl.CERT_REQUIRED}
            if broker_url and broker_url.startswith("rediss://")
            else None
        ),
        "broker_connection_timeout": 5,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.task_visibility_timeout_seconds,
            "socket_connect_timeout": 5,
            "socket_timeout": 10,
        },
        # Publishing gives up after about a second, so a dead broker cannot hold a request.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
        "task_default_queue": settings.task_queue_name,
        "task_serializer": "json",
        "accept_content": ["json"],
        # No result backend: failures end in the dead-letter list (products.notifications).
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": settings.task_time_limit_seconds,
        # SoftTimeLimitExceeded first, so the task can fail (and be retried) cleanly.
        "task_soft_time_limit": settings.task_time_limit_seconds * 0.8,
        "task_annotations": {
            TASK_NAME: {
                "max_retries": settings.task_max_retries,
                "retry_backoff_max": settings.task_retry_backoff_max_seconds,
                # Counts its runs for the worker's metrics (worker.task_metrics).
                "Request": "${{ values.packageName }}.worker.task_metrics:MeasuredRequest",
            }
        },
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": WORKER_CONCURRENCY,
        "worker_hijack_root_logger": False,
        "imports": ["${{ values.packageName }}.worker.tasks"],
        # Read by the tasks; Celery ignores keys it does not know.
        "service_settings": settings,
    }


def create_celery_app(config: Mapping[str, Any]) -> Celery:
    app = Celery("${{ values.packageName }}", set_as_current=False)
    app.config_from_object(config)
    return app


def service_settings(app: Celery) -> Settings:
    settings: Settings = app.conf["service_settings"]
    return settings


class _ConfigFromEnvironment(Mapping[str, Any]):
    @cached_property
    def _config(self) -> dict[str, Any]:
        return celery_config(load_worker_settings())

    def __getitem__(self, key: str) -> Any:
        return self._config[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._config)

    def __len__(self) -> int:
        return len(self._config)


# `celery --app` needs an application at module level. Its configuration is lazy: Celery
# reads it (and so the environment) when the worker starts, not when this module is
# imported. The API builds its own application from its Settings (worker.publisher).
app = create_celery_app(_ConfigFromEnvironment())
app.steps["worker"].add(Heartbeat)
app.steps["worker"].add(MetricsEndpoint)
app.steps["consumer"].add(Readiness)


@signals.setup_logging.connect
def _configure_worker_logging(**_: Any) -> None:
    """Connecting this signal is what keeps Celery from configuring its own logging."""
    configure_logging(service_settings(app))
{% if values.datadog %}


@signals.worker_init.connect
def _configure_worker_tracing(**_: Any) -> None:
    settings = service_settings(app)
    configure_tracing(settings)
    if settings.datadog_enabled:
        import ddtrace

        ddtrace.patch(celery=True)
{% elif values.opentelemetry %}


@signals.worker_process_init.connect
def _configure_worker_tracing(**_: Any) -> None:
    """In each pool process: the exporter's thread would not survive the fork."""
    tracer_provider = configure_tracing(service_settings(app))
    if tracer_provider is not None:
        # Pool processes end without running exit handlers: the spans still buffered go first.
        signals.worker_process_shutdown.connect(lambda **_: tracer_provider.shutdown(), weak=False)
{% endif %}
