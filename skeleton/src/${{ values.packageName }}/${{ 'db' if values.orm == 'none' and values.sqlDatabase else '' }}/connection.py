"""The request's unit of work for SQLAlchemy Core: one connection, in one transaction.

``TransactionalRoute`` opens it around the route's handler, commits it when the handler
returns and rolls it back if it raises, before the response is sent. A dependency with
``yield`` could do the same, but FastAPI runs each one through an exit stack and a cancel
scope on every request, which costs a read more than the rest of its dependencies
(benchmarks/data_reads.py)."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..deps import services_of
from .outage import unavailable_on_outage

# Where the route keeps the request's unit of work in the ASGI scope.
_UNIT_OF_WORK = f"{__name__}.unit_of_work"


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


class TransactionalRoute(APIRoute):
    """A route whose handler runs in the request's unit of work; outages become 503.
    Requests that only read use the reader endpoint when one is configured."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_unit_of_work(request: Request) -> Response:
            database = services_of(request.app).database
            unit = UnitOfWork(database.engine_for(request.method))
            request.scope[_UNIT_OF_WORK] = unit
            async with unavailable_on_outage(database):
                try:
                    # The response is built, not yet sent: a failed commit is its error.
                    response = await handle(request)
                    await unit.commit()
                finally:
                    await unit.close()
            return response

        return handle_in_unit_of_work


async def get_unit_of_work(request: Request) -> UnitOfWork:
    """FastAPI dependency: the request's unit of work."""
    unit: UnitOfWork | None = request.scope.get(_UNIT_OF_WORK)
    if unit is None:
        raise RuntimeError(
            "The request's unit of work is only for routes declared with "
            "route_class=TransactionalRoute (db/connection.py)"
        )
    return unit


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
