"""The request's unit of work for the ORM: an ``AsyncSession`` in one transaction.

``TransactionalRoute`` opens it around the route's handler, commits it when the handler
returns and rolls it back if it raises, before the response is sent. A dependency with
``yield`` could do the same, but FastAPI runs each one through an exit stack and a cancel
scope on every request, which costs a read more than the rest of its dependencies
(benchmarks/data_reads.py)."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..deps import services_of
from .outage import unavailable_on_outage

# Where the route keeps the request's unit of work in the ASGI scope.
_UNIT_OF_WORK = f"{__name__}.unit_of_work"


class UnitOfWork:
{% if values.cache == 'elasticache-redis' %}
    """The request's session, made on first use (a read served from the cache makes none).
    It connects with its first statement and is not closed: after its commit or rollback it
    holds no connection and goes with the request."""
{% else %}
    """The request's session, made on first use. It connects with its first statement and
    is not closed: after its commit or rollback it holds no connection and goes with the
    request."""
{% endif %}

    __slots__ = ("_engine", "_session")

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._session: AsyncSession | None = None

    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = AsyncSession(self._engine, expire_on_commit=False)
        return self._session

    async def commit(self) -> None:
        if self._session is not None and self._session.in_transaction():
            await self._session.commit()  # it was used (add() begins, too)

    async def roll_back(self) -> None:
        """What is not committed (the handler raised, or the commit failed), giving the
        connection back."""
        if self._session is not None and self._session.in_transaction():
            await self._session.rollback()


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
                    await unit.roll_back()
            return response

        return handle_in_unit_of_work


async def get_session(request: Request) -> AsyncSession:
    """FastAPI dependency: the session of the request's unit of work."""
    unit: UnitOfWork | None = request.scope.get(_UNIT_OF_WORK)
    if unit is None:
        raise RuntimeError(
            "The request's session is only for routes declared with "
            "route_class=TransactionalRoute (db/session.py)"
        )
    return unit.session()


SessionDep = Annotated[AsyncSession, Depends(get_session)]
