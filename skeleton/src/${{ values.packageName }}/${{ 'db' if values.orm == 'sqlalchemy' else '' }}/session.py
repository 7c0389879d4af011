"""The request's unit of work for the ORM: an ``AsyncSession`` in one transaction."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ..deps import services_of
from .outage import unavailable_on_outage


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: a session whose transaction commits when the handler returns and
    rolls back if it raises; outages become 503. Requests that only read use the reader
    endpoint when one is configured.

    The session connects on first use. It is not closed: after its commit or rollback it
{% if values.cache == 'elasticache-redis' %}
    holds no connection and goes with the request, so one never used (a read served from
    the cache) costs no pass through SQLAlchemy's async bridge at all."""
{% else %}
    holds no connection and goes with the request, so one never used costs no pass through
    SQLAlchemy's async bridge at all."""
{% endif %}
    database = services_of(request.app).database  # not a dependency: one level fewer to solve
    session = AsyncSession(database.engine_for(request.method), expire_on_commit=False)
    async with unavailable_on_outage(database):
        try:
            yield session
            if session.in_transaction():  # it was used (add() begins, too)
                await session.commit()
        finally:
            # The handler raised, or the commit failed: give the connection back.
            if session.in_transaction():
                await session.rollback()


# Ends with the handler, before the response is sent: a failed commit is the request's error.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
