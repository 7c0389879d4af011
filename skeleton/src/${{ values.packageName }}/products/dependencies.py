"""FastAPI dependencies of the products domain; override them in tests with
``app.dependency_overrides[get_product_repository] = ...``."""

from typing import Annotated

from fastapi import Depends

{% if values.cache == 'elasticache-redis' %}
from ..cache.client import CacheDep
from .cached import CachedProductRepository
{% endif %}
{% if values.database == 'none' %}
from .memory import get_product_repository
{% elif values.database == 'dynamodb' %}
from .dynamodb import get_product_repository
{% endif %}
{% if values.taskQueue != 'none' %}
from .notifications.events import ProductEventsDep
{% endif %}
from .repository import ProductRepository
from .service import ProductService
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
from .sql import get_product_repository
{% endif %}
{% if values.cache == 'elasticache-redis' %}


async def get_cached_product_repository(
    repository: Annotated[ProductRepository, Depends(get_product_repository)], cache: CacheDep
) -> ProductRepository:
    """The storage repository behind the read cache."""
    return CachedProductRepository(repository, cache)


ProductRepositoryDep = Annotated[ProductRepository, Depends(get_cached_product_repository)]
{% else %}

ProductRepositoryDep = Annotated[ProductRepository, Depends(get_product_repository)]
{% endif %}


{% if values.taskQueue != 'none' %}
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
