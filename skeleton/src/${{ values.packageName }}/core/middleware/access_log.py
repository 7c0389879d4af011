"""One access log line per request: method, route template, status and duration."""

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._scope import route_template

logger = structlog.stdlib.get_logger("access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500
        logged = False

        def log_request() -> None:
            nonlocal logged
            logged = True
            logger.info(
                "request",
                method=scope["method"],
                route=route_template(scope),
                status=status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )

        async def send_logging(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the last chunk goes out, while the request's trace span is
                # still active, so the line carries its trace ID.
                log_request()
            await send(message)

        try:
            await self.app(scope, receive, send_logging)
        finally:
            if not logged:
                log_request()
