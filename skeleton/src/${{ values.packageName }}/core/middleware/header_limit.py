"""Request header limit: 431 when a request's headers (names and values) exceed the limit
in total. uvicorn's httptools parser bounds neither a header's length nor their number."""

from starlette.types import Scope


def headers_too_large(scope: Scope, max_header_bytes: int) -> bool:
    total = 0
    for name, value in scope["headers"]:
        total += len(name) + len(value)
    return total > max_header_bytes
