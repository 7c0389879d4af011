"""Request header limit: 431 when a request's headers (names and values) exceed the limit
in total. uvicorn's httptools parser bounds neither a header's length nor their number."""

from ._scope import RequestHead


def headers_too_large(head: RequestHead, max_header_bytes: int) -> bool:
    return head.header_bytes > max_header_bytes
