"""Rate limiting of the API per client, in fixed windows; past the limit, 429 with
``Retry-After``. ``limit_rate`` is a dependency of the products router, solved before the
routes' own, so an over-limit client is refused first. The limiter never fails a request."""

import math
import time
from collections.abc import Callable
from typing import Protocol

from fastapi import Request
from starlette.exceptions import HTTPException

{% if values.auth == 'jwt' %}
from ..auth.access import AuthenticationDep
{% endif %}
from ..deps import services_of
from .rate_limit_settings import RateLimitSettings


class WindowCounter(Protocol):
    async def admit(self, key: str, limit: int, ttl_seconds: int) -> bool:
        """Whether one more request fits the ``limit`` of the window ``key`` (a client's
        window, which ends within ``ttl_seconds``)."""
        ...


class InProcessWindowCounter:
    """The limit applies per replica. Past ``max_keys`` live counters, new clients are not
    counted."""

    def __init__(
        self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._counters: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys
        self._clock = clock

    async def admit(self, key: str, limit: int, ttl_seconds: int) -> bool:
        now = self._clock()
        expires_at, count = self._counters.get(key, (now + ttl_seconds, 0))
        if expires_at <= now:
            expires_at, count = now + ttl_seconds, 0
        if count == 0 and len(self._counters) >= self._max_keys:
            self._drop_expired(now)
            if len(self._counters) >= self._max_keys:
                return True
        if count >= limit:
            return False
        self._counters[key] = (expires_at, count + 1)
        return True

    def _drop_expired(self, now: float) -> None:
        for key in [key for key, (expires_at, _) in self._counters.items() if expires_at <= now]:
            del self._counters[key]


class RateLimiter:
    def __init__(
        self,
        counter: WindowCounter,
        *,
        requests: int,
        window_seconds: int,
        namespace: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counter = counter
        self.requests = requests
        self.window_seconds = window_seconds
        self._namespace = namespace
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: RateLimitSettings, counter: WindowCounter) -> "RateLimiter":
        return cls(
            counter,
            requests=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
            namespace=settings.service_name,
        )

    async def check(self, client: str) -> None:
        if self.requests == 0:
            return
        # Wall-clock windows, so that replicas sharing counters share the windows too.
        now = self._clock()
        window = int(now // self.window_seconds)
        key = f"rate-limit:{self._namespace}:{client}:{window}"
        if not await self.counter.admit(key, self.requests, self.window_seconds):
            retry_after = max(1, math.ceil((window + 1) * self.window_seconds - now))
            raise HTTPException(
                429,
                f"Too many requests: at most {self.requests} per {self.window_seconds} s.",
                headers={"Retry-After": str(retry_after)},
            )


def client_address(request: Request) -> str:
    """Behind a proxy, as uvicorn's ``--proxy-headers`` sets it from ``X-Forwarded-For``."""
    return request.client.host if request.client is not None else "unknown"


{% if values.auth == 'jwt' %}
async def limit_rate(request: Request, authentication: AuthenticationDep) -> None:
    """The client is the verified token's subject, else the address; the token is checked
    once per request, shared with the route's authorisation."""
    subject = authentication.subject
    client = f"ip:{client_address(request)}" if subject is None else f"sub:{subject}"
    await services_of(request.app).rate_limiter.check(client)
{% else %}
async def limit_rate(request: Request) -> None:
    await services_of(request.app).rate_limiter.check(f"ip:{client_address(request)}")
{% endif %}
