"""What a process builds while it starts is kept out of the garbage collector's way.

Modules, the app, its routes and its clients live as long as the process. CPython's full
collection walks every object it tracks, so with them in view each one pauses the event
loop while it walks the whole heap: 35 to 53 ms in the default service (145,000 objects;
{% if values.datadog %}
175,000 with Datadog's tracer, whose allocations bring a full collection every few seconds
{% else %}
allocations bring a full collection every few seconds
{% endif %}
under load, which then sets the p99 latency). Frozen, they are skipped. Reference counting
still frees them; only cycles among them are never collected, which changes nothing for
objects that live as long as the process. No collection runs first: it would cost as much
as one of those pauses on every start, to free a few hundred objects.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Freeze every object that exists now until exit; unfrozen then, so that an app
    started and stopped in tests can be collected."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
