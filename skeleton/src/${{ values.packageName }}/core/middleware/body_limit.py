"""Request body limit: 413 for a declared ``Content-Length`` over the limit, and for a body
that grows past it while being read (chunked uploads declare no length)."""

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope

from ._scope import RequestHead


class PayloadTooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes HTTP exceptions through unchanged."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds {max_body_bytes} bytes.")


def declared_too_large(head: RequestHead, max_body_bytes: int) -> bool:
    declared = head.content_length
    return declared is not None and declared.isdigit() and int(declared) > max_body_bytes


def has_body(scope: Scope, head: RequestHead) -> bool:
    """False only when the request can have no body: HTTP/1.x frames a request body by
    ``Content-Length`` or ``Transfer-Encoding``, and without either there is none (RFC 9112,
    section 6.3). Other versions stream a body without them."""
    return (
        head.content_length is not None
        or head.transfer_encoding is not None
        or scope.get("http_version") not in ("1.1", "1.0")
    )


def limit_body(receive: Receive, max_body_bytes: int) -> Receive:
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
