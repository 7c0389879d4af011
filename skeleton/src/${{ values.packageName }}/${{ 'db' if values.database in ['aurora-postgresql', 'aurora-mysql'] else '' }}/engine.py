"""The async engine: one connection pool per process, opened and closed with the app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..core.config import Settings
from ..core.health import HealthRegistry

logger = structlog.stdlib.get_logger(__name__)


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    """Create the engine; no connection is made until the first query."""
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_recycle=settings.database_pool_recycle_seconds,
        pool_pre_ping=True,
    )


async def ping(engine: AsyncEngine) -> None:
    """Readiness check: one round trip to the database."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@asynccontextmanager
async def database_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep the engine in ``app.state.db_engine`` while the app runs and register its
    readiness check. Without a URL (local only) there is no engine."""
    settings: Settings = app.state.settings
    health: HealthRegistry = app.state.health
    if settings.database_url is None:
        logger.info("no database configured: data is kept in process")
        app.state.db_engine = None
        yield
        return
    engine = create_engine(settings.database_url.get_secret_value(), settings)
    app.state.db_engine = engine

    async def check() -> None:
        await ping(engine)

    health.register("database", check, critical=True)
    try:
        yield
    finally:
        health.unregister("database")
        await engine.dispose()
