"""HTTP routes of the products API (``/api/v1/products``); every route acts for the tenant
named by the request."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from ..core.errors import ErrorEnvelope
from ..core.json_body import JSON_BODY_RESPONSES, JsonBodyDep
from ..core.tenancy import TENANT_ERROR_RESPONSES, TenantIdDep
from .dependencies import ProductServiceDep
from .models import ProductStatus
from .schemas import ProductCreate, ProductPage, ProductRead, ProductUpdate

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorEnvelope,
        "description": "Malformed request: an unreadable body, header or cursor.",
    },
    **TENANT_ERROR_RESPONSES,
    404: {"model": ErrorEnvelope, "description": "No product with this ID for the tenant."},
    422: {"model": ErrorEnvelope, "description": "The request is not valid."},
}

router = APIRouter(prefix="/products", tags=["products"], responses=ERROR_RESPONSES)
{% if values.database != 'dynamodb' %}
# Offset pagination: beyond this page the offset is no use (and a huge one overflows SQL).
MAX_PAGE = 1_000_000
{% endif %}


@router.post("", status_code=status.HTTP_201_CREATED, responses=JSON_BODY_RESPONSES)
async def create_product(
    body: ProductCreate,
    tenant_id: TenantIdDep,
    _json: JsonBodyDep,
    service: ProductServiceDep,
    request: Request,
    response: Response,
) -> ProductRead:
    """Create a product; the ``Location`` header is its URL."""
    product = await service.create(tenant_id, body)
    response.headers["Location"] = str(request.url_for("get_product", product_id=product.id))
    return ProductRead.from_domain(product)
{% if values.database == 'dynamodb' %}


@router.get("")
async def list_products(
    tenant_id: TenantIdDep,
    service: ProductServiceDep,
    cursor: Annotated[
        str | None,
        Query(max_length=2048, description="The previous page's next_cursor; omit to start."),
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
    status: Annotated[ProductStatus | None, Query(description="Only this status.")] = None,
) -> ProductPage:
    """The tenant's products one page at a time, by cursor (keyset pagination): pages stay
    consistent while products are added, and there is no total count."""
    listing = await service.list_products(
        tenant_id, cursor=cursor, page_size=page_size, status=status
    )
    return ProductPage(
        items=[ProductRead.from_domain(product) for product in listing.items],
        page_size=listing.page_size,
        next_cursor=listing.next_cursor,
    )
{% else %}


@router.get("")
async def list_products(
    tenant_id: TenantIdDep,
    service: ProductServiceDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
    status: Annotated[ProductStatus | None, Query(description="Only this status.")] = None,
) -> ProductPage:
    """The tenant's products in creation order, one page at a time."""
    listing = await service.list_products(tenant_id, page=page, page_size=page_size, status=status)
    return ProductPage(
        items=[ProductRead.from_domain(product) for product in listing.items],
        total=listing.total,
        page=listing.page,
        page_size=listing.page_size,
        total_pages=listing.total_pages,
    )
{% endif %}


@router.get("/{product_id}")
async def get_product(
    product_id: UUID, tenant_id: TenantIdDep, service: ProductServiceDep
) -> ProductRead:
    return ProductRead.from_domain(await service.get(tenant_id, product_id))


@router.patch("/{product_id}", responses={409: {"model": ErrorEnvelope}, **JSON_BODY_RESPONSES})
async def update_product(
    product_id: UUID,
    body: ProductUpdate,
    tenant_id: TenantIdDep,
    _json: JsonBodyDep,
    service: ProductServiceDep,
) -> ProductRead:
    """Change the fields present in the body."""
    return ProductRead.from_domain(await service.update(tenant_id, product_id, body))


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(
    product_id: UUID, tenant_id: TenantIdDep, service: ProductServiceDep
) -> None:
    await service.delete(tenant_id, product_id)
