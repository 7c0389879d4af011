"""Alembic migrations run from inside the service: the local SQLite stand-in and the tests
migrate their database on start. Deployments run ``alembic upgrade head`` instead."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# The alembic.ini of the source tree: src/<package>/db/ -> the project root.
ALEMBIC_INI = Path(__file__).resolve().parents[3] / "alembic.ini"


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, migrating over ``connection`` (see migrations/env.py)."""
    if not ALEMBIC_INI.is_file():
        raise FileNotFoundError(
            f"{ALEMBIC_INI} not found: migrations run from a checkout of the service"
        )
    config = Config(ALEMBIC_INI)
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
{% if values.database == 'aurora-postgresql' %}
    """Apply every migration not applied yet, in one transaction."""
{% else %}
    """Apply every migration not applied yet, in one transaction where the database allows
    it (MySQL commits each DDL statement)."""
{% endif %}
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
