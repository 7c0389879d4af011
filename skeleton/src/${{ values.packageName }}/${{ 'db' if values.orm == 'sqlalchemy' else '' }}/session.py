"""The request's unit of work for the ORM: an ``AsyncSession`` in one transaction, which
routes of class ``TransactionalRoute`` (``db/transactional_route.py``) open and end."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

# Where the route keeps the request's unit of work in the ASGI scope.
UNIT_OF_WORK = f"{__name__}.unit_of_work"


class UnitOfWork:
{% if values.cache == 'elasticache-redis' %}
    """The request's session, made when a route's dependencies first ask for it. It
    connects with its first statement, so a read served from the cache takes no connection;
    after its commit or rollback it holds no connection, and goes with the request."""
{% else %}
    """The request's session, made on first use. It connects with its first statement;
    after its commit or rollback it holds no connection, and goes with the request."""
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

    async def close(self) -> None:
        """Ends the unit: rolls back what is not committed (the handler raised, or the commit
        failed), which gives the connection back."""
        if self._session is not None and self._session.in_transaction():
            await self._session.rollback()


async def get_session(request: Request) -> AsyncSession:
    """FastAPI dependency: the session of the request's unit of work."""
    unit: UnitOfWork | None = request.scope.get(UNIT_OF_WORK)
    if unit is None:
        raise RuntimeError(
            "The request's session is only for routes declared with "
            "route_class=TransactionalRoute (db/transactional_route.py)"
        )
    return unit.session()


SessionDep = Annotated[AsyncSession, Depends(get_session)]
