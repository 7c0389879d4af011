"""FastAPI dependencies of the products domain; override them in tests with
``app.dependency_overrides[get_product_repository] = ...``."""

from typing import Annotated

from fastapi import Depends

{% if values.database == 'none' %}
from .memory import get_product_repository
{% elif values.database == 'dynamodb' %}
from .dynamodb import get_product_repository
{% else %}
from .sql import get_product_repository
{% endif %}
from .repository import ProductRepository
from .service import ProductService

ProductRepositoryDep = Annotated[ProductRepository, Depends(get_product_repository)]


def get_product_service(repository: ProductRepositoryDep) -> ProductService:
    return ProductService(repository)


ProductServiceDep = Annotated[ProductService, Depends(get_product_service)]

__all__ = ["ProductRepositoryDep", "ProductServiceDep", "get_product_repository"]
