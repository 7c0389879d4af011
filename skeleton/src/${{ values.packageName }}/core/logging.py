"""Structured logging: one JSON object per line on standard output (readable lines locally),
for the service's records and every library's. Secrets are redacted, under sensitive keys
and inside text (query strings, URL credentials, bearer tokens, JWTs).

The service's own loggers (``structlog.get_logger``) take structlog's short path: below the
level a call is an empty method, above it the processors, orjson and one write. Other
libraries' records go through the standard ``logging`` handler and ProcessorFormatter."""

import functools
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
{% if values.datadog %}
from typing import TYPE_CHECKING, Any, Literal
{% else %}
from typing import Any, Literal
{% endif %}

import orjson
import structlog
{% if values.opentelemetry %}
from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id
{% endif %}
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from .correlation_id import get_correlation_id
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
# The standard-library loggers at the service's own level: its package's, and its server's
# (uvicorn's start-up lines say where it listens).
_OWN_LOGGERS = (__name__.partition(".")[0], "uvicorn")

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
# What each of those needs in the text (a parameter's "=" only after "?", "&" or ";", so
# that SQL statements pass): one search tells that almost every value has none.
_SECRET_HINT = re.compile(r"[?&;][^=&#\s]*=|://|eyJ|Bearer |Basic ")


class LoggingSettings(ServiceSettings):
    # The service's own loggers; every other library's log at log_level_third_party.
    log_level: LogLevel = "INFO"
    log_level_third_party: LogLevel = "WARNING"
    # None: readable lines when environment is local, JSON lines elsewhere.
    log_json: bool | None = None
    # Access lines of the orchestrator's probes (/health/...), which poll every few seconds.
    log_probes: bool = False

    @property
    def logs_json(self) -> bool:
        return self.log_json if self.log_json is not None else self.environment != "local"


# Cached: the keys are mostly the few names the code logs under, checked on every line.
@functools.lru_cache(maxsize=4096)
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
    if _SECRET_HINT.search(text) is None:
        return text
    for pattern, replacement in _SECRETS_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact_sensitive(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # In place (the event dict is the line's own copy); numbers are left as they are.
    for key, value in event_dict.items():
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
        elif not isinstance(value, int | float | None):
            event_dict[key] = redact(value)
    return event_dict


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


class AddTimestamp:
    """UTC, ISO 8601 to the microsecond: ``2026-01-31T12:00:00.123456Z``. The part to the
    second is formatted once a second, not for every line."""

    def __init__(self) -> None:
        self._second_and_text = (-1, "")

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        now = time.time()
        second = int(now)
        cached_second, text = self._second_and_text
        if second != cached_second:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second_and_text = (second, text)
        event_dict["timestamp"] = f"{text}.{int((now - second) * 1_000_000):06d}Z"
        return event_dict


{% if values.opentelemetry %}
def add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """``trace_id`` and ``span_id`` of the active span, in the form trace backends show, so
    that the line links to its trace; none outside a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format_trace_id(context.trace_id))
        event_dict.setdefault("span_id", format_span_id(context.span_id))
    return event_dict


{% endif %}
def add_correlation_id(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("correlation_id", get_correlation_id())
    return event_dict


class _StandardOutput:
    """Writes to whatever ``sys.stdout`` is at the time (test runners replace it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _LineWriter:
    """structlog's logger for the service's own lines: one write of bytes per line to the
    same standard output, flushed as the handler of library records flushes each of its
    lines, so the two kinds of line stay in order."""

    __slots__ = ("name",)

    def __init__(self, name: str | None = None) -> None:
        self.name = name  # the logger field (add_logger_name)

    def msg(self, line: str | bytes) -> None:
        stream = sys.stdout.buffer
        stream.write((line.encode() if isinstance(line, str) else line) + b"\n")
        stream.flush()

    debug = info = warning = error = critical = exception = msg


def render_json(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> bytes:
    # orjson writes the JSON the standard library would, compact and much faster.
    try:
        return orjson.dumps(event_dict, default=repr, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer beyond 64 bits, which only the standard library writes
        return json.dumps(event_dict, default=repr).encode()


def render_json_text(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
    return render_json(logger, method, event_dict).decode()


{% if values.datadog %}
def configure_logging(settings: "Settings") -> None:
{% else %}
def configure_logging(settings: LoggingSettings) -> None:
{% endif %}
    # The fields the service adds itself; none of them can hold a secret.
    own_fields: list[Processor] = [
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        AddTimestamp(),
        AddServiceFields(settings),
{% if values.opentelemetry %}
        add_trace_ids,
{% endif %}
    ]
{% if values.datadog %}
    if settings.datadog_enabled:
        own_fields.append(DatadogLogFields(settings))
{% endif %}
    # Without local variables: they may hold tokens, passwords or personal data.
    render_exception = structlog.processors.ExceptionRenderer(
        ExceptionDictTransformer(show_locals=False)
    )
    renderer: Processor = render_json
    text_renderer: Processor = render_json_text
    if not settings.logs_json:
        renderer = text_renderer = structlog.dev.ConsoleRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            add_correlation_id,
            *own_fields,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            render_exception,
            redact_sensitive,
            text_renderer,
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
            structlog.contextvars.merge_contextvars,
            add_correlation_id,
            render_exception,
            # Before the service's own fields: only what the line was given needs it.
            redact_sensitive,
            *own_fields,
            renderer,
        ],
        logger_factory=_LineWriter,
        # Below the level, a logging call is an empty method: no processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level]
        ),
        # Not cached on first use: configure_logging may run again (the tests build app after
        # app) and a cached logger would keep the old level and fields. The one line per
        # request, the access log's, has a logger assembled once (middleware.access_log).
        cache_logger_on_first_use=False,
    )
