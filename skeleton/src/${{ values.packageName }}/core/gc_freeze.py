"""Objects built at startup live as long as the process: frozen, CPython's full collections
no longer walk them, and so no longer pause the event loop for it."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Unfrozen on exit, so an app started and stopped in tests can be collected."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
