"""The request's unit of work for SQLAlchemy Core: one connection, in one transaction."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..deps import services_of
from .outage import unavailable_on_outage


class UnitOfWork:
    """The request's connection, taken from the pool on first use, so a read served from the
    cache never takes one. Its transaction begins with the first statement."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def connection(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self._engine.connect()
        return self._connection

    async def commit(self) -> None:
        if self._connection is not None and self._connection.in_transaction():
            await self._connection.commit()

    async def close(self) -> None:
        """Give the connection back; a transaction still open is rolled back."""
        if self._connection is not None:
            await self._connection.close()


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """FastAPI dependency: a unit of work that commits when the handler returns and rolls
    back if it raises; outages become 503. Requests that only read use the reader endpoint
    when one is configured."""
    database = services_of(request.app).database  # not a dependency: one level fewer to solve
    unit = UnitOfWork(database.engine_for(request.method))
    async with unavailable_on_outage(database):
        try:
            yield unit
            await unit.commit()
        finally:
            await unit.close()


# Ends with the handler, before the response is sent: a failed commit is the request's error.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]
