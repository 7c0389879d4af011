"""Each uvicorn worker process has its own pool: a pod refuses to start if together they could
open more connections than its share of the database's ``max_connections``."""

import os

from ..core.config import ENV_PREFIX, SettingsError
from .settings import DatabaseSettings


def uvicorn_workers() -> int:
    """``WEB_CONCURRENCY``, read as uvicorn reads it."""
    value = os.environ.get("WEB_CONCURRENCY", "1")
    try:
        return max(int(value), 1)
    except ValueError:
        raise SettingsError(f"WEB_CONCURRENCY must be a whole number, not {value!r}") from None


def check_connection_budget(settings: DatabaseSettings, workers: int) -> None:
    per_worker = settings.database_pool_size + settings.database_max_overflow
    if workers * per_worker > settings.database_max_connections:
        raise SettingsError(
            f"WEB_CONCURRENCY ({workers}) x ({ENV_PREFIX}DATABASE_POOL_SIZE "
            f"({settings.database_pool_size}) + {ENV_PREFIX}DATABASE_MAX_OVERFLOW "
            f"({settings.database_max_overflow})) = {workers * per_worker} connections, more "
            f"than {ENV_PREFIX}DATABASE_MAX_CONNECTIONS ({settings.database_max_connections})"
        )
