"""Per-request ``AsyncConnection`` for SQLAlchemy Core queries."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """FastAPI dependency: a connection in a transaction that commits when the handler
    returns and rolls back if it raises."""
    engine: AsyncEngine = request.app.state.db_engine
    async with engine.begin() as connection:
        yield connection
