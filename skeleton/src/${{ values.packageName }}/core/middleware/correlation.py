"""Correlation ID: accepted from ``X-Correlation-ID`` when well-formed, else generated;
set for the request's context (logs, error bodies, outbound calls) and echoed back."""

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..correlation import (
    CORRELATION_ID_HEADER,
    correlation_id_var,
    is_well_formed,
    new_correlation_id,
)


class CorrelationIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(CORRELATION_ID_HEADER)
        correlation_id = (
            incoming if incoming is not None and is_well_formed(incoming) else new_correlation_id()
        )

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_ID_HEADER] = correlation_id
            await send(message)

        token = correlation_id_var.set(correlation_id)
        try:
            await self.app(scope, receive, send_with_header)
        finally:
            correlation_id_var.reset(token)
