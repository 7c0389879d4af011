"""Helpers shared by the middleware."""

from typing import NamedTuple

from starlette.types import Scope

from ..correlation_id import CORRELATION_ID_HEADER

UNMATCHED_ROUTE = "<unmatched>"
CORRELATION_ID_NAME = CORRELATION_ID_HEADER.lower().encode()


class RequestHead(NamedTuple):
    """What the pipeline needs from the request's headers, read in one pass over them."""

    header_bytes: int
    content_length: bytes | None
    transfer_encoding: bytes | None
    correlation_id: bytes | None


def read_request_head(scope: Scope) -> RequestHead:
    header_bytes = 0
    content_length = transfer_encoding = correlation_id = None
    # Names arrive in lower case (ASGI); the first value of each counts.
    for name, value in scope["headers"]:
        header_bytes += len(name) + len(value)
        if name == b"content-length" and content_length is None:
            content_length = value
        elif name == b"transfer-encoding" and transfer_encoding is None:
            transfer_encoding = value
        elif name == CORRELATION_ID_NAME and correlation_id is None:
            correlation_id = value
    return RequestHead(header_bytes, content_length, transfer_encoding, correlation_id)


def route_template(scope: Scope) -> str:
    """The matched route's path template, so metrics and logs do not get one label per ID
    (routes are registered flat, so the route's path is the full one)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
