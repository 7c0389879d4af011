"""The request's unit of work for SQLAlchemy Core: one connection, in one transaction,
which routes of class ``TransactionalRoute`` (``db/transactional_route.py``) open and end."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Where the route keeps the request's unit of work in the ASGI scope.
UNIT_OF_WORK = f"{__name__}.unit_of_work"


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


async def get_unit_of_work(request: Request) -> UnitOfWork:
    """FastAPI dependency: the request's unit of work."""
    unit: UnitOfWork | None = request.scope.get(UNIT_OF_WORK)
    if unit is None:
        raise RuntimeError(
            "The request's unit of work is only for routes declared with "
            "route_class=TransactionalRoute (db/transactional_route.py)"
        )
    return unit


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
