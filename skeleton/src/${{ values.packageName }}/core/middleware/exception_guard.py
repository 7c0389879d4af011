"""The last line of defence: an unhandled exception is logged with its traceback and
answered with the 500 envelope, whose message reveals nothing about the failure."""

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_response

logger = structlog.stdlib.get_logger(__name__)


class ExceptionGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("unhandled exception", method=scope["method"], path=scope["path"])
            if response_started:
                raise
            response = error_response(500, "INTERNAL_ERROR", "An unexpected error occurred.")
            await response(scope, receive, send)
