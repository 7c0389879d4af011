"""Structured logging: one JSON object per line on standard output.

Every line carries ``timestamp``, ``level``, ``event``, ``service``, ``version``,
``environment`` and ``correlation_id`` (and, with Datadog, the ``dd.*`` trace fields).
Values under sensitive keys (authorization, cookie, password, token, secret, ...) are
replaced by ``[REDACTED]`` at any depth. Records of other libraries that use the standard
``logging`` module go through the same pipeline.
"""

import logging
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .config import Settings
from .correlation import get_correlation_id
{% if values.datadog %}
from .tracing import DatadogLogFields
{% endif %}

REDACTED = "[REDACTED]"
SENSITIVE_KEY_PARTS = (
    "authorization",
    "cookie",
    "password",
    "passwd",
    "token",
    "secret",
    "api_key",
    "apikey",
    "credential",
    "private_key",
)
_HANDLER_NAME = "service-structured"


def is_sensitive_key(key: object) -> bool:
    """True for keys whose values must never be logged."""
    if not isinstance(key, str):
        return False
    normalized = key.lower().replace("-", "_")
    return any(part in normalized for part in SENSITIVE_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of sensitive keys replaced, at any depth."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_sensitive_key(key) else redact(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    return value


def redact_sensitive(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: redact sensitive values of the log line."""
    redacted: EventDict = redact(event_dict)
    return redacted


class AddServiceFields:
    """Processor: the service name, version and environment."""

    def __init__(self, settings: Settings) -> None:
        self._fields = {
            "service": settings.service_name,
            "version": settings.version,
            "environment": settings.environment,
        }

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in self._fields.items():
            event_dict.setdefault(key, value)
        return event_dict


def add_correlation_id(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: the correlation ID of the current request (null outside requests)."""
    event_dict.setdefault("correlation_id", get_correlation_id())
    return event_dict


class _StandardOutput:
    """Writes to whatever ``sys.stdout`` is at the time (test runners replace it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure_logging(settings: Settings) -> None:
    """Configure structlog and the standard ``logging`` module for the whole process."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        AddServiceFields(settings),
        add_correlation_id,
    ]
{% if values.datadog %}
    if settings.datadog_enabled:
        shared.append(DatadogLogFields(settings))
{% endif %}
    renderer: Processor
    if settings.log_json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.dict_tracebacks,
            redact_sensitive,
            renderer,
        ],
    )
    handler = logging.StreamHandler(_StandardOutput())
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)

    # uvicorn's own loggers: errors through this pipeline; its access log is replaced by the
    # service's (one line per request with the route template and correlation ID).
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Routine INFO lines of the HTTP client library (one per request) and of the tracer.
    for name in ("httpx2", "httpcore2", "ddtrace"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structured logger; ``name`` is usually ``__name__``."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
