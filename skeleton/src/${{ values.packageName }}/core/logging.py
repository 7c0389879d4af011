"""Structured logging: one JSON object per line on standard output (readable lines locally),
for the service's records and every library's. Secrets are redacted, under sensitive keys
and inside text (query strings, URL credentials, bearer tokens, JWTs)."""

import logging
import re
import sys
from collections.abc import Mapping
{% if values.datadog %}
from typing import TYPE_CHECKING, Any, Literal
{% else %}
from typing import Any, Literal
{% endif %}

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from .correlation_id import get_correlation_id
from .middleware.access_log import ACCESS_LOGGER
from .service_settings import ServiceSettings
{% if values.datadog %}
from .tracing import DatadogLogFields

if TYPE_CHECKING:
    # Not at run time: core.config imports this module for LoggingSettings.
    from .config import Settings
{% endif %}

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

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
# The service's own loggers: its package's, its access log, and its server's (uvicorn's
# start-up lines say where it listens).
_OWN_LOGGERS = (__name__.partition(".")[0], ACCESS_LOGGER, "uvicorn")

# Secrets inside text, each with what replaces it.
_SECRETS_IN_TEXT = (
    # A query-string parameter whose name looks sensitive: ?access_token=...&password=...
    (
        re.compile(
            r"(?i)([?&;][^=&#\s]*(?:token|password|passwd|secret|key|signature|credential"
            r"|session|auth|code)[^=&#\s]*=)[^&#\s]*"
        ),
        rf"\1{REDACTED}",
    ),
    # The user and password of a URL: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@"), rf"\1{REDACTED}@"),
    # Credentials of an Authorization header value.
    (re.compile(r"\b(Bearer|Basic) +[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # A JWT (or its start): base64url JSON, which begins with "eyJ".
    (re.compile(r"\beyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),
)
_SECRET_HINTS = ("=", "://", "eyJ", "Bearer ", "Basic ")


class LoggingSettings(ServiceSettings):
    # The service's own loggers; every other library's log at log_level_third_party.
    log_level: LogLevel = "INFO"
    log_level_third_party: LogLevel = "WARNING"
    # None: readable lines when environment is local, JSON lines elsewhere.
    log_json: bool | None = None

    @property
    def logs_json(self) -> bool:
        return self.log_json if self.log_json is not None else self.environment != "local"


def is_sensitive_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalized = key.lower().replace("-", "_")
    return any(part in normalized for part in SENSITIVE_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy, redacted at any depth."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_sensitive_key(key) else redact(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    # A few substring checks first: almost no log value holds a secret.
    if not any(hint in text for hint in _SECRET_HINTS):
        return text
    for pattern, replacement in _SECRETS_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact_sensitive(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    redacted: EventDict = redact(event_dict)
    return redacted


class AddServiceFields:
    def __init__(self, settings: ServiceSettings) -> None:
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
    event_dict.setdefault("correlation_id", get_correlation_id())
    return event_dict


class _StandardOutput:
    """Writes to whatever ``sys.stdout`` is at the time (test runners replace it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


{% if values.datadog %}
def configure_logging(settings: "Settings") -> None:
{% else %}
def configure_logging(settings: LoggingSettings) -> None:
{% endif %}
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
    if settings.logs_json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Without local variables: they may hold tokens, passwords or personal data.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
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
    # Drivers and SDKs log DEBUG and INFO lines by the dozen per request.
    root.setLevel(settings.log_level_third_party)
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(settings.log_level)

    # uvicorn's own loggers: errors through this pipeline; its access log is replaced by the
    # service's (one line per request with the route template and correlation ID).
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # uvicorn formats its access line whenever this logger has a handler up its chain, so
    # cut it off from the root's: otherwise each request pays for a line that is dropped.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True

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
