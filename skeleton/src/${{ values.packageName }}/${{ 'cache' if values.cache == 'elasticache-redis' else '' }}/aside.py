"""Cache-aside reads: look in the cache, else load from the source of truth and store the
result. Concurrent misses for one key in this process share a single load."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from .store import CacheStore

T = TypeVar("T")


class CacheAside:
    """Keys are ``<service>:<schema version>:<tenant>:...``, so two services sharing a Redis,
    two tenants, or two shapes of a value during a rolling deploy never share entries."""

    def __init__(self, store: CacheStore, *, namespace: str, ttl_seconds: int) -> None:
        self.store = store
        self._namespace = namespace
        self._ttl_seconds = ttl_seconds
        self._loads: dict[str, asyncio.Future[Any]] = {}

    def key(self, schema_version: str, tenant_id: str, *parts: object) -> str:
        return ":".join([self._namespace, schema_version, tenant_id, *map(str, parts)])

    async def get_or_load(
        self,
        key: str,
        load: Callable[[], Awaitable[T | None]],
        *,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
    ) -> T | None:
        """The cached value, else ``load()``'s result (cached unless None)."""
        cached = await self.store.get(key)
        if cached is not None:
            return decode(cached)
        while (pending := self._loads.get(key)) is not None:
            # Another request is loading this key: share its result (or its error).
            try:
                return cast(T | None, await asyncio.shield(pending))
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request itself was cancelled
                # The loading request was cancelled: load here instead.
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loads[key] = future
        try:
            value = await load()
            if value is not None:
                await self.store.set(key, encode(value), self._ttl_seconds)
        except Exception as error:
            future.set_exception(error)
            # Waiters re-raise it; retrieving it here stops asyncio logging it as unseen.
            future.exception()
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._loads[key]

    async def invalidate(self, *keys: str) -> None:
        await self.store.delete(*keys)
