"""The service's parts (built by ``bootstrap.py``) and the dependencies that reach them; a
test swaps one with ``app.dependency_overrides`` of the part's getter. Each getter reads its
part from the request's app itself, not through ``get_services``: FastAPI solves every
dependency of a dependency on every request, so each level costs CPU on every request."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from starlette.applications import Starlette

{% if values.auth == 'jwt' %}
from .auth.tokens import TokenVerifier
{% endif %}
{% if values.cache == 'elasticache-redis' %}
from .cache.aside import CacheAside
{% endif %}
from .core.config import Settings
from .core.health import HealthRegistry
from .core.http_client import ResilientHttpClient
from .core.metrics import ServiceMetrics
{% if values.sqlDatabase %}
from .db.database import Database
{% endif %}
{% if values.events == 'redis-streams' and values.database == 'dynamodb' %}
from .events.outbox_dynamodb import DynamoDbOutbox
{% endif %}
{% if values.events == 'redis-streams' %}
from .events.sse import OpenEventStreams
from .events.stream import EventStream
{% endif %}
{% if values.database == 'none' %}
from .products.memory import InMemoryProductRepository
{% endif %}
{% if values.apiQueuesNotifications %}
from .products.notifications.events import ProductEvents
{% endif %}

if TYPE_CHECKING:
{% if values.database == 'dynamodb' %}
    from types_aiobotocore_dynamodb.service_resource import Table

{% endif %}
    # Not at run time: the rate limit dependency (core/rate_limit.py) imports this module.
    from .core.rate_limit import RateLimiter


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    metrics: ServiceMetrics
    health: HealthRegistry
    http_client: ResilientHttpClient
    rate_limiter: "RateLimiter"
{% if values.auth == 'jwt' %}
    token_verifier: TokenVerifier
{% endif %}
{% if values.sqlDatabase %}
    database: Database
{% elif values.database == 'dynamodb' %}
    dynamodb_table: "Table"
{% if values.events == 'redis-streams' %}
    event_outbox: DynamoDbOutbox
{% endif %}
{% else %}
    product_repository: InMemoryProductRepository
{% endif %}
{% if values.cache == 'elasticache-redis' %}
    cache: CacheAside
{% endif %}
{% if values.apiQueuesNotifications %}
    product_events: ProductEvents
{% endif %}
{% if values.events == 'redis-streams' %}
    event_stream: EventStream
    open_event_streams: OpenEventStreams
{% endif %}


def services_of(app: Starlette) -> Services:
    services: Services = app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request.app)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_http_client(request: Request) -> ResilientHttpClient:
    return services_of(request.app).http_client


HttpClientDep = Annotated[ResilientHttpClient, Depends(get_http_client)]
{% if values.auth == 'jwt' %}


async def get_token_verifier(request: Request) -> TokenVerifier:
    return services_of(request.app).token_verifier


TokenVerifierDep = Annotated[TokenVerifier, Depends(get_token_verifier)]
{% endif %}
{% if values.cache == 'elasticache-redis' %}


async def get_cache(request: Request) -> CacheAside:
    return services_of(request.app).cache


CacheDep = Annotated[CacheAside, Depends(get_cache)]
{% endif %}
{% if values.apiQueuesNotifications %}


async def get_product_events(request: Request) -> ProductEvents:
    return services_of(request.app).product_events


ProductEventsDep = Annotated[ProductEvents, Depends(get_product_events)]
{% endif %}
{% if values.events == 'redis-streams' %}


async def get_event_stream(request: Request) -> EventStream:
    return services_of(request.app).event_stream


EventStreamDep = Annotated[EventStream, Depends(get_event_stream)]


async def get_open_event_streams(request: Request) -> OpenEventStreams:
    return services_of(request.app).open_event_streams


OpenEventStreamsDep = Annotated[OpenEventStreams, Depends(get_open_event_streams)]
{% endif %}
