"""Every cross-cutting step of an HTTP request in one pure-ASGI layer, not a middleware per
concern: each layer costs a coroutine call and a wrapped ``send`` on every request. The steps
live in their own modules; this class puts them in order, the correlation ID first so that
every log line and error body carries it."""

import asyncio
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_response
from ..metrics import ServiceMetrics
from ._scope import read_request_head, route_template
from .access_log import AccessLog
from .body_limit import PayloadTooLarge, declared_too_large, has_body, limit_body
from .correlation_header import bind_correlation_id, correlation_header, reset_correlation_id
{% if values.events == 'redis-streams' %}
from .deadline import DEADLINE_SCOPE_KEY, Deadlines, current_task
{% else %}
from .deadline import Deadlines, current_task
{% endif %}
from .header_limit import headers_too_large
from .security_headers import security_headers, with_headers

logger = structlog.get_logger(__name__)


class _Response:
    """Writes the access line before the last body chunk, while the request's trace span is
    still active, so the line carries its trace ID."""

    __slots__ = (
        "_access_log",
        "_extra_headers",
        "_scope",
        "_send",
        "_started_at",
        "logged",
        "started",
        "status",
    )

    def __init__(
        self,
        scope: Scope,
        send: Send,
        extra_headers: list[tuple[bytes, bytes]],
        started_at: float,
        access_log: AccessLog,
    ) -> None:
        self._scope = scope
        self._send = send
        self._extra_headers = extra_headers
        self._started_at = started_at
        self._access_log = access_log
        self.started = False
        self.logged = False
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            message["headers"] = with_headers(message.get("headers", ()), self._extra_headers)
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            self.log()
        await self._send(message)

    def log(self) -> None:
        if not self.logged:
            self.logged = True
            self._access_log(self._scope, self.status, time.perf_counter() - self._started_at)


class RequestPipelineMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        access_log: AccessLog,
        max_body_bytes: int,
        max_header_bytes: int,
        timeout_seconds: float,
        hsts_max_age_seconds: int,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.deadlines = Deadlines(timeout_seconds)
        self.security_headers = security_headers(hsts_max_age_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        head = read_request_head(scope)
        correlation_id, token = bind_correlation_id(head.correlation_id)
        extra_headers = [correlation_header(correlation_id), *self.security_headers]
        response = _Response(scope, send, extra_headers, started_at, self.access_log)
        timed_out = False
        try:
            if headers_too_large(head, self.max_header_bytes):
                message = f"The request headers exceed {self.max_header_bytes} bytes."
                await self._error(scope, receive, response, 431, "HEADERS_TOO_LARGE", message)
                return
            if declared_too_large(head, self.max_body_bytes):
                await self._error(scope, receive, response, *self._too_large())
                return
            if has_body(scope, head):
                receive = limit_body(receive, self.max_body_bytes)
            task = current_task()
            slot = self.deadlines.start(task)
{% if values.events == 'redis-streams' %}
            scope[DEADLINE_SCOPE_KEY] = (self.deadlines, task, slot)
{% endif %}
            try:
                await self.app(scope, receive, response.send)
            finally:
                timed_out = self.deadlines.finish(task, slot)
        except PayloadTooLarge:
            if response.started:
                raise
            await self._error(scope, receive, response, *self._too_large())
        except asyncio.CancelledError:
            if not timed_out:
                raise
            timeout = self.deadlines.timeout_seconds
            logger.warning("request timed out", path=scope["path"], timeout_seconds=timeout)
            if response.started:
                raise TimeoutError(f"request timed out after {timeout} s") from None
            message = f"The request did not complete within {timeout} s."
            await self._error(scope, receive, response, 504, "TIMEOUT", message)
        except Exception:
            logger.exception("unhandled exception", method=scope["method"], path=scope["path"])
            if response.started:
                raise
            await self._error(
                scope, receive, response, 500, "INTERNAL_ERROR", "An unexpected error occurred."
            )
        finally:
            response.log()
            self.metrics.observe(
                scope["method"],
                route_template(scope),
                response.status,
                time.perf_counter() - started_at,
            )
            reset_correlation_id(token)

    def _too_large(self) -> tuple[int, str, str]:
        return 413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {self.max_body_bytes} bytes."

    async def _error(
        self,
        scope: Scope,
        receive: Receive,
        response: _Response,
        status: int,
        code: str,
        message: str,
    ) -> None:
        await error_response(status, code, message)(scope, receive, response.send)
