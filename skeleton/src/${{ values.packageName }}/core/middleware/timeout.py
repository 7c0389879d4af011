"""Per-request timeout: a request still running after the limit is cancelled and
answered with 504."""

import asyncio

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_response
from ._response import ResponseTracker

logger = structlog.stdlib.get_logger(__name__)


class TimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = ResponseTracker(send)
        deadline = asyncio.timeout(self.timeout_seconds)
        try:
            async with deadline:
                await self.app(scope, receive, response.send)
        except TimeoutError:
            if not deadline.expired() or response.started:
                raise
            logger.warning(
                "request timed out", path=scope["path"], timeout_seconds=self.timeout_seconds
            )
            error = error_response(
                504, "TIMEOUT", f"The request did not complete within {self.timeout_seconds} s."
            )
            await error(scope, receive, send)
