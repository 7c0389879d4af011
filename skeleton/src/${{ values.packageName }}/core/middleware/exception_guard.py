"""The last line of defence: an unhandled exception is logged with its traceback and
answered with the 500 envelope, whose message reveals nothing about the failure."""

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_response
from ._response import ResponseTracker

logger = structlog.stdlib.get_logger(__name__)


class ExceptionGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = ResponseTracker(send)
        try:
            await self.app(scope, receive, response.send)
        except Exception:
            logger.exception("unhandled exception", method=scope["method"], path=scope["path"])
            if response.started:
                raise
            error = error_response(500, "INTERNAL_ERROR", "An unexpected error occurred.")
            await error(scope, receive, send)
