"""The SQLite stand-in of local work: a file in the working directory, so data survives
restarts of `make dev`."""

from importlib.util import find_spec

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ..core.config import ENV_PREFIX, SettingsError
from .engine import create_engine
from .settings import DatabaseSettings

logger = structlog.get_logger(__name__)

LOCAL_DATABASE_URL = "sqlite+aiosqlite:///local.sqlite3"


async def open_local_database(settings: DatabaseSettings, pool_size: int) -> AsyncEngine:
    """Migrated to the latest schema."""
    if find_spec("aiosqlite") is None:
        raise SettingsError(
            f"{ENV_PREFIX}DATABASE_URL is not set, so the service would use its local SQLite "
            "stand-in, but aiosqlite (a dev dependency) is not installed: run `uv sync`, or "
            f"set {ENV_PREFIX}DATABASE_URL"
        )
    # Imported here: deployed processes start faster without Alembic.
    from .migrations import upgrade_to_head

    engine = create_engine(LOCAL_DATABASE_URL, settings, pool_size=pool_size)
    try:
        await upgrade_to_head(engine)
    except BaseException:
        await engine.dispose()
        raise
    logger.info("no database configured: using the SQLite stand-in", path="local.sqlite3")
    return engine
