"""Per-request ``AsyncSession`` for route handlers."""

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: a session in a transaction that commits when the handler returns
    and rolls back if it raises."""
    async with (
        AsyncSession(request.app.state.db_engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session
