"""FastAPI dependencies of the products domain; override them in tests with
``app.dependency_overrides[get_product_repository] = ...``."""

from typing import Annotated

{% if values.database == 'none' %}
from fastapi import Depends, Request
{% else %}
from fastapi import Depends
{% endif %}

{% if values.cache == 'elasticache-redis' and values.apiQueuesNotifications and values.database == 'none' %}
from ..deps import CacheDep, ProductEventsDep, services_of
{% elif values.cache == 'elasticache-redis' and values.apiQueuesNotifications %}
from ..deps import CacheDep, ProductEventsDep
{% elif values.cache == 'elasticache-redis' and values.database == 'none' %}
from ..deps import CacheDep, services_of
{% elif values.cache == 'elasticache-redis' %}
from ..deps import CacheDep
{% elif values.apiQueuesNotifications and values.database == 'none' %}
from ..deps import ProductEventsDep, services_of
{% elif values.apiQueuesNotifications %}
from ..deps import ProductEventsDep
{% elif values.database == 'none' %}
from ..deps import services_of
{% endif %}
{% if values.cache == 'elasticache-redis' %}
from .cached import CachedProductRepository
{% endif %}
{% if values.database == 'dynamodb' %}
from .dynamodb import get_product_repository
{% endif %}
from .repository import ProductRepository
from .service import ProductService
{% if values.sqlDatabase %}
from .sql import get_product_repository
{% endif %}
{% if values.database == 'none' %}


async def get_product_repository(request: Request) -> ProductRepository:
    return services_of(request.app).product_repository
{% endif %}
{% if values.cache == 'elasticache-redis' %}


async def get_cached_product_repository(
    repository: Annotated[ProductRepository, Depends(get_product_repository)], cache: CacheDep
) -> ProductRepository:
    return CachedProductRepository(repository, cache)


ProductRepositoryDep = Annotated[ProductRepository, Depends(get_cached_product_repository)]
{% else %}
{% if values.database == 'none' %}

{% endif %}

ProductRepositoryDep = Annotated[ProductRepository, Depends(get_product_repository)]
{% endif %}


{% if values.apiQueuesNotifications %}
async def get_product_service(
    repository: ProductRepositoryDep, events: ProductEventsDep
) -> ProductService:
    return ProductService(repository, events=events)
{% else %}
async def get_product_service(repository: ProductRepositoryDep) -> ProductService:
    return ProductService(repository)
{% endif %}


ProductServiceDep = Annotated[ProductService, Depends(get_product_service)]

__all__ = ["ProductRepositoryDep", "ProductServiceDep", "get_product_repository"]
