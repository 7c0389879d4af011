"""Per-request ``AsyncSession`` for route handlers."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..core.errors import ServiceUnavailable


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: a session in a transaction that commits when the handler returns
    and rolls back if it raises."""
    engine: AsyncEngine | None = request.app.state.db_engine
    if engine is None:
        raise ServiceUnavailable("No database is configured.")
    async with (
        AsyncSession(engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session
