"""The garbage collector, set for serving once startup is done.

What startup built lives as long as the process: frozen, CPython's full collections no
longer walk it, and so no longer pause the event loop for it. A request's objects are freed
by reference counting when it ends, so the young generation is collected after far more
allocations than CPython's default: at the default, the objects of the requests still in
flight set off a young collection every few requests, survived it, and were walked again in
the older generations."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Net allocations of tracked objects (allocations less deallocations) between two
# collections of the young generation.
YOUNG_GENERATION_THRESHOLD = 10_000


@contextmanager
def collector_set_for_serving() -> Iterator[None]:
    """Undone on exit, so an app started and stopped in tests can be collected, and the
    interpreter is left as it was found."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], YOUNG_GENERATION_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
