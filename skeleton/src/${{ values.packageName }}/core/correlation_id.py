"""The correlation ID of the request being handled, shared through a context variable."""

import itertools
import os
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
    return _WELL_FORMED.fullmatch(value) is not None


class _IdSequence:
    """16 random hex digits drawn once per process, then a counter: an ID only has to be
    unique, not unguessable."""

    def __init__(self) -> None:
        self._restart()
        # A forked worker must not repeat its parent's sequence.
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._prefix: str | None = None
        self._counter = itertools.count()

    def next(self) -> str:
        if self._prefix is None:  # drawn on first use: nothing runs at import time
            self._prefix = f"{random.getrandbits(64):016x}"
        return f"{self._prefix}{next(self._counter):016x}"


new_correlation_id = _IdSequence().next
