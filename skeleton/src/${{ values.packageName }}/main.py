"""The composition root: ``create_app`` builds the application, and its lifespan opens and
closes every client. uvicorn calls it with ``--factory``; run uvicorn with
``--no-server-header`` so responses do not advertise the server."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

{% if values.auth == 'jwt' %}
from .auth.local import router as local_token_router
from .auth.setup import create_token_verifier
{% endif %}
{% if values.cache == 'elasticache-redis' %}
from .cache.client import cache_lifespan
{% endif %}
from .core.config import Settings, get_settings_or_exit
from .core.errors import install_error_handlers
from .core.health import HealthRegistry
from .core.health import router as health_router
from .core.heap import startup_objects_frozen
from .core.http_client import create_http_client, create_resilient_client
from .core.logging import configure_logging
from .core.metrics import HttpMetrics
from .core.metrics import router as metrics_router
from .core.middleware.stack import install_middleware
from .core.rate_limit import InProcessWindowCounter, RateLimiter
from .core.routing import include_flat
{% if values.datadog %}
from .core.tracing import configure_tracing, disable_tracing_without_local_agent
{% endif %}
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
from .db.engine import database_lifespan
{% elif values.database == 'dynamodb' %}
from .dynamodb.client import dynamodb_lifespan
{% endif %}
{% if values.database == 'none' %}
from .products.memory import InMemoryProductRepository, check_single_process
{% endif %}
from .products.router import router as products_router
{% if values.taskQueue != 'none' %}
from .worker.events import product_events_lifespan
{% endif %}

logger = structlog.stdlib.get_logger(__name__)

{% if values.datadog %}
# The service reports through /metrics (Prometheus) and Datadog APM (ddtrace). FastAPI's
{% else %}
# The service reports through /metrics (Prometheus). FastAPI's
{% endif %}
# native OpenTelemetry would add a second set of spans and metrics wherever a global
# OpenTelemetry provider is configured, and it looks for one on every request.
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

{% if values.database == 'none' %}
DESCRIPTION = (
    "This service has no database, for demos and prototypes: products are kept in the "
    "memory of its one process (one replica) and lost when it restarts. "
)
{% elif values.database == 'dynamodb' %}
DESCRIPTION = "Products are stored in DynamoDB, partitioned by tenant. "
{% else %}
DESCRIPTION = "Products are stored in Aurora ${{ 'PostgreSQL' if values.database == 'aurora-postgresql' else 'MySQL' }}, scoped by tenant. "
{% endif %}
{% if values.auth == 'jwt' %}
DESCRIPTION += (
    "Every product route needs a bearer token (JWT) that names the tenant and has the read "
    "role (GET) or the write role (other methods)."
)
{% else %}
DESCRIPTION += "Every product route needs the X-Tenant-ID header."
{% endif %}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the clients on startup and close them in reverse order on shutdown. Each
    optional module registers its readiness checks into ``app.state.health``."""
    settings: Settings = app.state.settings
    health: HealthRegistry = app.state.health
    async with AsyncExitStack() as stack:
        stack.callback(logger.info, "service stopped")
{% if values.datadog %}
        await disable_tracing_without_local_agent(settings)
{% endif %}
        http_client = await stack.enter_async_context(create_http_client(settings))
        app.state.http_client = create_resilient_client(settings, http_client)
{% if values.auth == 'jwt' %}
        app.state.token_verifier = create_token_verifier(settings, http_client)
{% endif %}
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
        await stack.enter_async_context(database_lifespan(app))
{% elif values.database == 'dynamodb' %}
        await stack.enter_async_context(dynamodb_lifespan(app))
{% endif %}
{% if values.cache == 'elasticache-redis' %}
        await stack.enter_async_context(cache_lifespan(app))
{% endif %}
{% if values.database == 'none' %}
        check_single_process()
        app.state.product_repository = InMemoryProductRepository()
{% endif %}
{% if values.taskQueue != 'none' %}
        await stack.enter_async_context(product_events_lifespan(app))
{% endif %}
        stack.enter_context(startup_objects_frozen())  # once every client is open
        health.mark_started()
        logger.info("service started", environment=settings.environment)
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; without ``settings`` they are read from the environment, and
    an invalid configuration prints the variables to fix and exits with status 2."""
    if settings is None:
        settings = get_settings_or_exit()
    configure_logging(settings)
{% if values.datadog %}
    configure_tracing(settings)
{% endif %}
    metrics = HttpMetrics()
    # /docs and /redoc load Swagger UI and ReDoc from files the service serves itself
    # (/static-offline-docs), not from a CDN: they work without internet access.
    app = FastAPIOffline(
        title=settings.service_name,
        version=settings.version,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=NO_NATIVE_TELEMETRY,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.health = HealthRegistry()
{% if values.cache == 'elasticache-redis' %}
    # Per process; the cache's lifespan moves the counters to Redis.
{% else %}
    # Per process.
{% endif %}
    app.state.rate_limiter = RateLimiter.from_settings(settings, InProcessWindowCounter())
    install_error_handlers(app)
    install_middleware(app, settings, metrics)
    include_flat(app, health_router)
    include_flat(app, metrics_router)
    include_flat(app, products_router, prefix="/api/v1")
{% if values.auth == 'jwt' %}
    if settings.jwt_signs_locally:
        include_flat(app, local_token_router)
{% endif %}
    return app
