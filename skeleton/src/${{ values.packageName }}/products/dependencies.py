"""FastAPI dependencies of the products domain; override them in tests with
``app.dependency_overrides[get_product_repository] = ...``."""

from typing import Annotated

from fastapi import Depends, Request

from .repository import ProductRepository
from .service import ProductService


def get_product_repository(request: Request) -> ProductRepository:
    """The repository the lifespan created."""
    repository: ProductRepository = request.app.state.product_repository
    return repository


ProductRepositoryDep = Annotated[ProductRepository, Depends(get_product_repository)]


def get_product_service(repository: ProductRepositoryDep) -> ProductService:
    return ProductService(repository)


ProductServiceDep = Annotated[ProductService, Depends(get_product_service)]
