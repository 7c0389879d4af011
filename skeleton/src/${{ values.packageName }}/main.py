"""The application factory (``uvicorn --factory``; run uvicorn with ``--no-server-header`` so
responses do not advertise the server)."""

{% if values.opentelemetry %}
import asyncio
{% endif %}
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
{% if not values.opentelemetry %}
from fastapi.telemetry import TelemetryConfig
{% endif %}
from fastapi_offline import FastAPIOffline

{% if values.auth == 'jwt' %}
from .auth.local import router as local_token_router
{% endif %}
from .bootstrap import bootstrap
from .core.config import Settings, get_settings_or_exit
from .core.error_responses import PIPELINE_RESPONSES
from .core.errors import install_error_handlers
from .core.gc_tuning import collector_set_for_serving
from .core.health import HealthRegistry, health_router
from .core.logging import configure_logging
from .core.metrics import ServiceMetrics, metrics_router
from .core.middleware.access_log import AccessLog
from .core.middleware.stack import install_middleware
from .core.routing import include_flat
{% if values.datadog %}
from .core.tracing import configure_tracing, disable_tracing_without_local_agent
{% elif values.opentelemetry %}
from .core.tracing import configure_tracing, request_telemetry
{% endif %}
{% if values.events == 'redis-streams' %}
from .products.event_stream_route import router as product_events_router
{% endif %}
from .products.router import router as products_router

logger = structlog.get_logger(__name__)

{% if not values.opentelemetry %}
{% if values.datadog %}
# The service reports through /metrics (Prometheus) and Datadog APM (ddtrace). FastAPI's
{% else %}
# The service reports through /metrics (Prometheus). FastAPI's
{% endif %}
# native OpenTelemetry would add a second set of spans and metrics wherever a global
# OpenTelemetry provider is configured, and it looks for one on every request.
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
{% endif %}

DESCRIPTION = (
{% if values.database == 'none' %}
    "This service has no database, for demos and prototypes: products are kept in the "
    "memory of its one process (one replica) and lost when it restarts. "
{% elif values.database == 'dynamodb' %}
    "Products are stored in DynamoDB, partitioned by tenant. "
{% else %}
    "Products are stored in Aurora ${{ 'PostgreSQL' if values.database == 'aurora-postgresql' else 'MySQL' }}, scoped by tenant. "
{% endif %}
{% if values.auth == 'jwt' %}
    "Every product route needs a bearer token (JWT) that names the tenant and has the read "
    "role (GET) or the write role (other methods)."
{% else %}
    "Every product route needs the X-Tenant-ID header."
{% endif %}
)

TAGS = [
    {"name": "health", "description": "Probes for the orchestrator; public, never rate limited."},
    {"name": "products", "description": "The tenant's products."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; without ``settings`` they are read from the environment, and
    an invalid configuration prints the variables to fix and exits with status 2."""
    if settings is None:
        settings = get_settings_or_exit()
    configure_logging(settings)
{% if values.datadog %}
    configure_tracing(settings)
{% elif values.opentelemetry %}
    tracer_provider = configure_tracing(settings)
{% endif %}
    metrics = ServiceMetrics()
    health = HealthRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
{% if values.datadog %}
            await disable_tracing_without_local_agent(settings)
{% endif %}
            async with bootstrap(settings, metrics, health) as services:
                app.state.services = services
                with collector_set_for_serving():  # once every client is open
                    health.mark_started()
                    logger.info("service started", environment=settings.environment)
                    yield
        finally:
            logger.info("service stopped")
{% if values.opentelemetry %}
            if tracer_provider is not None:
                # Sends the spans still buffered; the export has its own timeout.
                await asyncio.to_thread(tracer_provider.shutdown)
{% endif %}

    # /docs and /redoc load Swagger UI and ReDoc from files the service serves itself
    # (/static-offline-docs), not from a CDN: they work without internet access.
    app = FastAPIOffline(
        title=settings.service_name,
        version=settings.version,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        responses=PIPELINE_RESPONSES,
        lifespan=lifespan,
{% if values.opentelemetry %}
        telemetry=request_telemetry(tracer_provider),
{% else %}
        telemetry=NO_NATIVE_TELEMETRY,
{% endif %}
    )
    install_error_handlers(app)
    # After configure_logging: the access log's logger is assembled with its configuration.
    install_middleware(app, settings, metrics, AccessLog(log_probes=settings.log_probes))
    include_flat(app, health_router(health))
    include_flat(app, metrics_router(metrics))
{% if values.events == 'redis-streams' %}
    # Before the products routes, whose /products/{product_id} would take /products/events.
    include_flat(app, product_events_router, prefix="/api/v1")
{% endif %}
    include_flat(app, products_router, prefix="/api/v1")
{% if values.auth == 'jwt' %}
    if settings.jwt_signs_locally:
        include_flat(app, local_token_router)
{% endif %}
    return app
