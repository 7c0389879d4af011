"""One access log line per request: method, route template, status and duration."""

import logging

import structlog
from starlette.types import Scope

from ._scope import route_template

ACCESS_LOGGER = "access"

logger = structlog.stdlib.get_logger(ACCESS_LOGGER)
_level_check = logging.getLogger(ACCESS_LOGGER)


def log_access(scope: Scope, status: int, seconds: float) -> None:
    # Checked first: below INFO the line would be built and then dropped on every request.
    if _level_check.isEnabledFor(logging.INFO):
        logger.info(
            "request",
            method=scope["method"],
            route=route_template(scope),
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
