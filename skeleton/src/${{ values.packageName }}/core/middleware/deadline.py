"""Request deadlines that share their timers: ``asyncio.timeout()`` would schedule and cancel
a timer per request. Requests whose deadlines fall in the same slot (a tenth of the timeout,
at most 100 ms) share one, so a request times out up to one slot late."""

import asyncio
import math
from typing import Any
{% if values.events == 'redis-streams' %}

from starlette.types import Scope
{% endif %}

Slot = tuple[asyncio.AbstractEventLoop, int]
Task = asyncio.Task[Any]


def current_task() -> Task:
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("a request must run in an asyncio task")
    return task


class Deadlines:
    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._slot_seconds = min(0.1, timeout_seconds / 10)
        self._slots: dict[Slot, set[Task]] = {}
        self._expired: set[Task] = set()

    def start(self, task: Task) -> Slot:
        """Cancel ``task`` once its deadline has passed, unless ``finish`` comes first."""
        loop = task.get_loop()
        slot = (loop, math.ceil((loop.time() + self.timeout_seconds) / self._slot_seconds))
        tasks = self._slots.get(slot)
        if tasks is None:
            tasks = self._slots[slot] = set()
            loop.call_at(slot[1] * self._slot_seconds, self._expire, slot)
        tasks.add(task)
        return slot

    def finish(self, task: Task, slot: Slot) -> bool:
        """Stop watching ``task``; True when its deadline had passed (it was cancelled)."""
        tasks = self._slots.get(slot)
        if tasks is not None:
            tasks.discard(task)
        if task in self._expired:
            self._expired.discard(task)
            # The cancellation was ours: take it back, as asyncio.timeout() does.
            task.uncancel()
            return True
        return False

{% if values.events == 'redis-streams' %}
    def lift(self, task: Task, slot: Slot) -> None:
        """Stop watching ``task`` while it goes on: its deadline no longer applies. Too late
        once the deadline has passed (the cancellation is under way)."""
        tasks = self._slots.get(slot)
        if tasks is not None:
            tasks.discard(task)

{% endif %}
    def _expire(self, slot: Slot) -> None:
        for task in self._slots.pop(slot, ()):
            self._expired.add(task)
            task.cancel()
{% if values.events == 'redis-streams' %}


# Where the pipeline leaves a request's deadline in its scope, for ``lift_deadline``.
DEADLINE_SCOPE_KEY = "request_deadline"


def lift_deadline(scope: Scope) -> None:
    """End the deadline of the request of ``scope``: for a response meant to stay open (an
    event stream), once it is ready to start."""
    deadlines, task, slot = scope[DEADLINE_SCOPE_KEY]
    deadlines.lift(task, slot)
{% endif %}
