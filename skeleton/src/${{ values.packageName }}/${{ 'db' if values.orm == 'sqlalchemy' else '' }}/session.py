"""The request's unit of work for the ORM: an ``AsyncSession`` in one transaction."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from .engine import Database
from .outage import unavailable_on_outage


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: a session in a transaction that commits when the handler returns
    and rolls back if it raises; outages become 503. Requests that only read use the reader
    endpoint when one is configured."""
    database: Database = request.app.state.database
    async with (
        unavailable_on_outage(database),
        AsyncSession(database.engine_for(request.method), expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


# Ends with the handler, before the response is sent: a failed commit is the request's error.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
