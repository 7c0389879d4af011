"""One access line per request: method, route template, status and duration."""

import logging

import structlog
from starlette.types import Scope
from structlog.typing import FilteringBoundLogger

from ..health import PROBES_PREFIX
from ._scope import route_template

ACCESS_LOGGER = "access"


class AccessLog:
    """Assembled once, after ``configure_logging``, with that configuration: a structlog
    proxy would assemble a logger for every line. Nothing is done below INFO, and the
    orchestrator's probes are left out unless ``log_probes``."""

    __slots__ = ("_enabled", "_logger", "_skipped_prefix")

    def __init__(self, *, log_probes: bool) -> None:
        self._logger: FilteringBoundLogger = structlog.get_logger(ACCESS_LOGGER).bind()
        self._enabled: bool = self._logger.is_enabled_for(logging.INFO)
        self._skipped_prefix = None if log_probes else f"{PROBES_PREFIX}/"

    def __call__(self, scope: Scope, status: int, seconds: float) -> None:
        if not self._enabled:
            return
        route = route_template(scope)
        if self._skipped_prefix is not None and route.startswith(self._skipped_prefix):
            return
        # No field of its own can hold a secret: the route is the code's template (never the
        # path or its query), the method an HTTP token, the status and duration numbers. The
        # line still passes the redaction of every line, for the caller's correlation ID.
        self._logger.info(
            "request",
            method=scope["method"],
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
