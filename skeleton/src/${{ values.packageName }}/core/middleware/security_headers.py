"""Security headers on every response, and no ``server`` header (uvicorn writes its own
outside the application unless started with ``--no-server-header``, as the Dockerfile does)."""

from collections.abc import Iterable

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

RawHeaders = list[tuple[bytes, bytes]]


def security_headers(hsts_max_age_seconds: int = 0) -> RawHeaders:
    headers = dict(SECURITY_HEADERS)
    if hsts_max_age_seconds > 0:
        headers["Strict-Transport-Security"] = f"max-age={hsts_max_age_seconds}; includeSubDomains"
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


def with_headers(headers: Iterable[tuple[bytes, bytes]], extra: RawHeaders) -> RawHeaders:
    """``headers`` without ``server``, plus each of ``extra`` the response did not set.
    Header names are in lower case, as ASGI requires of a response."""
    kept = [header for header in headers if header[0] != b"server"]
    present = {name for name, _ in kept}
    kept += [header for header in extra if header[0] not in present]
    return kept
