"""Structured logging: one JSON object per line, ready for log aggregation."""

import logging

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .config import Settings


class AddServiceFields:
    """Processor that adds the service name and environment to every log line."""

    def __init__(self, settings: Settings) -> None:
        self._fields = {"service": settings.service_name, "environment": settings.environment}

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in self._fields.items():
            event_dict.setdefault(key, value)
        return event_dict


def configure_logging(settings: Settings) -> None:
    """Configure structlog for the whole process."""
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        AddServiceFields(settings),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if settings.log_json:
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level]
        ),
        cache_logger_on_first_use=True,
    )
