"""Correlation ID: accepted from ``X-Correlation-ID`` when well-formed, else generated;
set for the request's context (logs, error bodies, outbound calls) and echoed back."""

from contextvars import Token

from ..correlation_id import correlation_id_var, is_well_formed, new_correlation_id
from ._scope import CORRELATION_ID_NAME


def bind_correlation_id(incoming: bytes | None) -> tuple[str, Token[str | None]]:
    """``incoming`` (the header's value) when well-formed, else a new ID; set in the context
    until ``reset_correlation_id``."""
    sent = None if incoming is None else incoming.decode("latin-1")
    correlation_id = sent if sent is not None and is_well_formed(sent) else new_correlation_id()
    return correlation_id, correlation_id_var.set(correlation_id)


def reset_correlation_id(token: Token[str | None]) -> None:
    correlation_id_var.reset(token)


def correlation_header(correlation_id: str) -> tuple[bytes, bytes]:
    return CORRELATION_ID_NAME, correlation_id.encode("latin-1")
