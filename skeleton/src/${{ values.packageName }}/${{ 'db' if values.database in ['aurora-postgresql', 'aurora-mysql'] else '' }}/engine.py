"""The async engine: one connection pool per process, opened and closed with the app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..core.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the engine; no connection is made until the first query."""
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_recycle=settings.database_pool_recycle_seconds,
        pool_pre_ping=True,
    )


@asynccontextmanager
async def database_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep the engine in ``app.state.db_engine`` while the app runs."""
    engine = create_engine(app.state.settings)
    app.state.db_engine = engine
    try:
        yield
    finally:
        await engine.dispose()
