"""The FastAPI application factory, ``create_app``; uvicorn calls it with ``--factory``."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
{% if values.datadog %}
from ddtrace.trace import tracer
{% endif %}
from fastapi import FastAPI

from . import __version__
from .api.health import router as health_router
{% if values.auth == 'jwt' %}
from .auth.tokens import TokenVerifier
{% endif %}
{% if values.cache == 'elasticache-redis' %}
from .cache.client import redis_lifespan
{% endif %}
from .core.config import Settings, get_settings
from .core.logging import configure_logging
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
from .db.engine import database_lifespan
{% elif values.database == 'dynamodb' %}
from .dynamodb.client import dynamodb_lifespan
{% endif %}

logger = structlog.get_logger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the service's connections on startup; close them in reverse order on shutdown."""
    async with AsyncExitStack() as stack:
        stack.callback(logger.info, "service stopped")
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
        await stack.enter_async_context(database_lifespan(app))
{% elif values.database == 'dynamodb' %}
        await stack.enter_async_context(dynamodb_lifespan(app))
{% endif %}
{% if values.cache == 'elasticache-redis' %}
        await stack.enter_async_context(redis_lifespan(app))
{% endif %}
        logger.info("service started", version=__version__)
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; without ``settings`` they are read from the environment."""
    if settings is None:
        settings = get_settings()
    configure_logging(settings)
{% if values.datadog %}
    if not settings.datadog_enabled:
        tracer.enabled = False
{% endif %}
    app = FastAPI(title=settings.service_name, version=__version__, lifespan=lifespan)
    app.state.settings = settings
{% if values.auth == 'jwt' %}
    app.state.token_verifier = TokenVerifier(settings)
{% endif %}
    app.include_router(health_router)
    return app
