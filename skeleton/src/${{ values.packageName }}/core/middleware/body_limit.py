"""Request body limit: 413 for a declared ``Content-Length`` over the limit, and for a body
that grows past it while being read (chunked uploads declare no length)."""

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope

from ._scope import request_header


class PayloadTooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes HTTP exceptions through unchanged."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds {max_body_bytes} bytes.")


def declared_too_large(scope: Scope, max_body_bytes: int) -> bool:
    declared = request_header(scope, b"content-length")
    return declared is not None and declared.isdigit() and int(declared) > max_body_bytes


def limit_body(receive: Receive, max_body_bytes: int) -> Receive:
    """``receive`` that raises ``PayloadTooLarge`` once the body passes the limit."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body_bytes:
                raise PayloadTooLarge(max_body_bytes)
        return message

    return limited_receive
