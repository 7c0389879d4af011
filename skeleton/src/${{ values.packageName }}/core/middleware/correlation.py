"""Correlation ID: accepted from ``X-Correlation-ID`` when well-formed, else generated;
set for the request's context (logs, error bodies, outbound calls) and echoed back."""

from contextvars import Token

from starlette.types import Scope

from ..correlation import (
    CORRELATION_ID_HEADER,
    correlation_id_var,
    is_well_formed,
    new_correlation_id,
)
from ._scope import request_header

_HEADER_NAME = CORRELATION_ID_HEADER.lower().encode()


def bind_correlation_id(scope: Scope) -> tuple[str, Token[str | None]]:
    """The request's correlation ID, set in the context until ``reset_correlation_id``."""
    incoming = request_header(scope, _HEADER_NAME)
    correlation_id = (
        incoming if incoming is not None and is_well_formed(incoming) else new_correlation_id()
    )
    return correlation_id, correlation_id_var.set(correlation_id)


def reset_correlation_id(token: Token[str | None]) -> None:
    correlation_id_var.reset(token)


def correlation_header(correlation_id: str) -> tuple[bytes, bytes]:
    """The response header echoing the ID."""
    return _HEADER_NAME, correlation_id.encode("latin-1")
