"""Per-request ``AsyncConnection`` for SQLAlchemy Core queries."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..core.errors import ServiceUnavailable


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """FastAPI dependency: a connection in a transaction that commits when the handler
    returns and rolls back if it raises."""
    engine: AsyncEngine | None = request.app.state.db_engine
    if engine is None:
        raise ServiceUnavailable("No database is configured.")
    async with engine.begin() as connection:
        yield connection
