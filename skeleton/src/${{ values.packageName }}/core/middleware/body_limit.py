"""Request body limit: 413 for a declared ``Content-Length`` over the limit, and for a body
that grows past it while being read (chunked uploads declare no length)."""

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_response
from ._response import ResponseTracker


class PayloadTooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes HTTP exceptions through unchanged."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds {max_body_bytes} bytes.")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reject(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLarge(self.max_body_bytes)
            return message

        response = ResponseTracker(send)
        try:
            await self.app(scope, limited_receive, response.send)
        except PayloadTooLarge:
            if response.started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {self.max_body_bytes} bytes."
        )
        await response(scope, receive, send)
