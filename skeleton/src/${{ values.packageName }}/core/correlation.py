"""The correlation ID of the request being handled, shared through a context variable."""

import random
import re
from contextvars import ContextVar

CORRELATION_ID_HEADER = "X-Correlation-ID"

_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,128}")

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def get_correlation_id() -> str | None:
    """The current request's correlation ID; None outside a request."""
    return correlation_id_var.get()


def is_well_formed(value: str) -> bool:
    """At most 128 characters of letters, digits, ``.``, ``_`` and ``-``."""
    return _WELL_FORMED.fullmatch(value) is not None


def new_correlation_id() -> str:
    """A fresh random ID of 32 hex digits. It only has to be unique, not unguessable, so it
    comes from ``random`` rather than the OS entropy source: a system call per request."""
    return f"{random.getrandbits(128):032x}"
