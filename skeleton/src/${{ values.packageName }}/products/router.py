"""HTTP routes of the products API (``/api/v1/products``)."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from ..core.errors import ErrorEnvelope
from .dependencies import ProductServiceDep
from .models import ProductStatus
from .schemas import ProductCreate, ProductPage, ProductRead, ProductUpdate

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": "No product with this ID."},
    422: {"model": ErrorEnvelope, "description": "The request is not valid."},
}

router = APIRouter(prefix="/products", tags=["products"], responses=ERROR_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_product(
    body: ProductCreate, service: ProductServiceDep, request: Request, response: Response
) -> ProductRead:
    """Create a product; the ``Location`` header is its URL."""
    product = await service.create(body)
    response.headers["Location"] = str(request.url_for("get_product", product_id=product.id))
    return ProductRead.from_domain(product)


@router.get("")
async def list_products(
    service: ProductServiceDep,
    page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
    status: Annotated[ProductStatus | None, Query(description="Only this status.")] = None,
) -> ProductPage:
    """Products in creation order, one page at a time."""
    listing = await service.list_products(page=page, page_size=page_size, status=status)
    return ProductPage(
        items=[ProductRead.from_domain(product) for product in listing.items],
        total=listing.total,
        page=listing.page,
        page_size=listing.page_size,
        total_pages=listing.total_pages,
    )


@router.get("/{product_id}")
async def get_product(product_id: UUID, service: ProductServiceDep) -> ProductRead:
    return ProductRead.from_domain(await service.get(product_id))


@router.patch("/{product_id}")
async def update_product(
    product_id: UUID, body: ProductUpdate, service: ProductServiceDep
) -> ProductRead:
    """Change the fields present in the body."""
    return ProductRead.from_domain(await service.update(product_id, body))


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(product_id: UUID, service: ProductServiceDep) -> None:
    await service.delete(product_id)
