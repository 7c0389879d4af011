"""A circuit breaker for async code: after repeated failures of a dependency, calls to it
fail at once for a while instead of piling up behind timeouts."""

import asyncio
import time
from collections.abc import Callable
from enum import StrEnum

import structlog

from .errors import ServiceUnavailable

logger = structlog.get_logger(__name__)


class CircuitOpenError(ServiceUnavailable):
    code = "UPSTREAM_UNAVAILABLE"


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed: calls go through, consecutive failures are counted. After
    ``failure_threshold`` of them it opens: calls fail at once. After ``reset_seconds`` it
    lets one trial call through (half-open): success closes it, failure opens it again."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> CircuitState:
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.reset_seconds
        ):
            return CircuitState.HALF_OPEN
        return self._state

    async def before_call(self) -> None:
        """Raise ``CircuitOpenError`` unless a call may go through now."""
        if self._state is CircuitState.CLOSED:
            return  # the common case needs no lock: nothing awaits between check and return
        async with self._lock:
            state = self.state
            if state is CircuitState.CLOSED:
                return
            if state is CircuitState.HALF_OPEN and not self._trial_in_flight:
                self._state = CircuitState.HALF_OPEN
                self._trial_in_flight = True
                return
            raise CircuitOpenError(
                f"Calls to {self.name} are suspended after repeated failures.",
                details={"upstream": self.name},
            )

    async def record_success(self) -> None:
        if self._state is CircuitState.CLOSED and self._failures == 0:
            return  # nothing to reset
        async with self._lock:
            if self._state is not CircuitState.CLOSED:
                logger.info("circuit closed", upstream=self.name)
            self._state = CircuitState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

{% if values.cache == 'elasticache-redis' %}
    async def record_not_reached(self) -> None:
        """The call ended before it reached the dependency (it waited for a connection of
        this process, say): nothing is learnt, so the state stays, and if it was the trial
        the next call may be one."""
        if self._trial_in_flight:
            async with self._lock:
                self._trial_in_flight = False

{% endif %}
    async def record_failure(self) -> None:
        async with self._lock:
            self._failures += 1
            reopen = self._state is CircuitState.HALF_OPEN
            if reopen or self._failures >= self.failure_threshold:
                if self._state is not CircuitState.OPEN or reopen:
                    logger.warning("circuit opened", upstream=self.name, failures=self._failures)
                self._state = CircuitState.OPEN
                self._opened_at = self._clock()
            self._trial_in_flight = False
