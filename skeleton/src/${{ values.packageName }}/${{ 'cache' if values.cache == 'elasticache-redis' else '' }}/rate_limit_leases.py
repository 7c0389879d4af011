"""Rate limits shared by every replica without a Redis round trip per request: a replica
leases a slice of a client's window budget from Redis (``RedisCacheStore.take_lease``) and
admits requests from it in process, asking Redis again only once the slice is spent.

Leases come out of the budget, so while Redis answers all replicas together admit at most
the limit per window. What a replica leased and did not use by the window's end is lost:
at most ``max_lease_requests`` per replica and client, so with N replicas a client may be
refused up to N x ``max_lease_requests`` requests short of the limit. Leases start at one
request and double with each one spent in the window, so a client that makes few requests
holds few. When Redis cannot be reached, each replica counts the window alone: the limit
then holds per replica, and requests are never failed for it."""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class LeaseStore(Protocol):
    async def take_lease(
        self, key: str, requests: int, budget: int, ttl_seconds: int
    ) -> int | None:
        """Up to ``requests`` of what is left of ``budget``; None when unavailable."""
        ...


@dataclass
class _Fetch:
    """A lease request in flight; the requests of its client wait for it."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    answered: bool = False


@dataclass
class _Lease:
    """One client's window on this replica."""

    expires_at: float
    admitted: int = 0
    remaining: int = 0
    next_size: int = 1
    # Redis granted less than asked: the window's budget is spent.
    spent: bool = False
    fetch: _Fetch | None = None


class LeasedWindowCounter:
    """Past ``max_keys`` clients, the least recently seen one's lease is dropped."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        max_lease_requests: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._max_lease_requests = max_lease_requests
        self._leases: OrderedDict[str, _Lease] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def admit(self, key: str, limit: int, ttl_seconds: int) -> bool:
        lease = self._lease_of(key, ttl_seconds)
        while lease.remaining == 0:
            if lease.spent:
                return False
            if not await self._refill(lease, key, limit, ttl_seconds):
                # Redis is unavailable: this replica counts the window alone.
                if lease.admitted >= limit:
                    return False
                lease.admitted += 1
                return True
        lease.remaining -= 1
        lease.admitted += 1
        return True

    async def _refill(self, lease: _Lease, key: str, limit: int, ttl_seconds: int) -> bool:
        """Whether Redis answered the lease request of ``lease``: the one in flight, else a
        new one, so that concurrent requests of a client ask once."""
        fetch = lease.fetch
        if fetch is not None:
            await fetch.done.wait()
            return fetch.answered
        fetch = lease.fetch = _Fetch()
        try:
            granted = await self._store.take_lease(key, lease.next_size, limit, ttl_seconds)
            if granted is not None:
                fetch.answered = True
                lease.remaining += granted
                lease.spent = granted < lease.next_size
                lease.next_size = min(2 * lease.next_size, self._max_lease_requests)
        finally:
            lease.fetch = None
            fetch.done.set()
        return fetch.answered

    def _lease_of(self, key: str, ttl_seconds: int) -> _Lease:
        now = self._clock()
        lease = self._leases.get(key)
        if lease is None or lease.expires_at <= now:
            lease = self._leases[key] = _Lease(expires_at=now + ttl_seconds)
        self._leases.move_to_end(key)
        # Least recently seen first: drop the expired ones there, and any beyond max_keys.
        while len(self._leases) > self._max_keys or (
            next(iter(self._leases.values())).expires_at <= now
        ):
            self._leases.popitem(last=False)
        return lease
