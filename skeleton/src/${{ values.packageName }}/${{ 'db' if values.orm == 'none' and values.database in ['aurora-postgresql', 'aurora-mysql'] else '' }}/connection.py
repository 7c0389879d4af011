"""The request's unit of work for SQLAlchemy Core: an ``AsyncConnection`` in one
transaction."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from .engine import Database
from .outage import unavailable_on_outage


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """FastAPI dependency: a connection in a transaction that commits when the handler
    returns and rolls back if it raises; outages become 503. Requests that only read use the
    reader endpoint when one is configured."""
    database: Database = request.app.state.database
    async with (
        unavailable_on_outage(database),
        database.engine_for(request.method).begin() as connection,
    ):
        yield connection


# Ends with the handler, before the response is sent: a failed commit is the request's error.
ConnectionDep = Annotated[AsyncConnection, Depends(get_connection, scope="function")]
