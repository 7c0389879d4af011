"""HTTP routes of the products API (``/api/v1/products``); every route acts for the tenant
named by the request, within the client's rate limit."""

import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response, status

{% if values.auth == 'jwt' %}
from ..auth.access import TenantIdDep
{% endif %}
from ..core.errors import ErrorEnvelope
from ..core.json_body import JSON_BODY_RESPONSES, JsonBodyDep
from ..core.rate_limit import limit_rate
{% if values.auth != 'jwt' %}
from ..core.tenancy import TenantIdDep
{% endif %}
from .dependencies import ProductServiceDep
from .models import Product
from .pagination import LISTING_DESCRIPTION, PageRequestDep, ProductPage
from .schemas import ProductCreate, ProductRead, ProductUpdate

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorEnvelope,
{% if values.database == 'dynamodb' %}
        "description": "Malformed request: an unreadable body, header or cursor.",
{% else %}
        "description": "Malformed request: an unreadable body or header.",
{% endif %}
    },
{% if values.auth == 'jwt' %}
    401: {"model": ErrorEnvelope, "description": "Missing or invalid bearer token."},
    403: {"model": ErrorEnvelope, "description": "The token lacks the role or the tenant."},
{% endif %}
    429: {
        "model": ErrorEnvelope,
        "description": "Too many requests; retry after the seconds of the Retry-After header.",
    },
    404: {"model": ErrorEnvelope, "description": "No product with this ID for the tenant."},
    422: {"model": ErrorEnvelope, "description": "The request is not valid."},
}

router = APIRouter(
    prefix="/products",
    tags=["products"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(limit_rate)],
)

# A product's ETag is its version as a strong entity tag: "3". A listing's items carry no
# header, but their ``version`` gives the same tag.
ETAG_HEADER = {
    "ETag": {
        "description": 'The product\'s version as an entity tag, e.g. "3"; send it back in '
        "If-Match to change or delete only that version.",
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    }
}
PRECONDITION_FAILED_RESPONSE: dict[int | str, dict[str, Any]] = {
    412: {
        "model": ErrorEnvelope,
        "description": "If-Match names no version the product is at (PRECONDITION_FAILED).",
    }
}
IfMatch = Annotated[
    str | None,
    Header(
        description='Act only if the product is still at this ETag, e.g. "3" (a list of '
        "ETags, or * for any version, also works); 412 otherwise. Optional: without it the "
        "request acts on whatever version is stored."
    ),
]
_ENTITY_TAG = re.compile(r'"([0-9]{1,18})"')


def etag(product: Product) -> str:
    return f'"{product.version}"'


def expected_versions(if_match: str | None) -> frozenset[int] | None:
    """The versions an ``If-Match`` accepts; None when it accepts any (absent or ``*``).
    Weak tags (``W/"3"``) and anything not a tag of this API match no version."""
    if if_match is None:
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return None
    return frozenset(
        int(match.group(1)) for tag in tags if (match := _ENTITY_TAG.fullmatch(tag)) is not None
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={201: {"headers": ETAG_HEADER}, **JSON_BODY_RESPONSES},
)
async def create_product(
    body: ProductCreate,
    tenant_id: TenantIdDep,
    _json: JsonBodyDep,
    service: ProductServiceDep,
    request: Request,
    response: Response,
) -> ProductRead:
    """Create a product; the ``Location`` header is its URL, ``ETag`` its version."""
    product = await service.create(tenant_id, body)
    response.headers["Location"] = str(request.url_for("get_product", product_id=product.id))
    response.headers["ETag"] = etag(product)
    return ProductRead.from_domain(product)


# Described in pagination.py, beside the pages it describes.
@router.get("", description=LISTING_DESCRIPTION)
async def list_products(
    tenant_id: TenantIdDep, service: ProductServiceDep, page_request: PageRequestDep
) -> ProductPage:
    return ProductPage.from_page(await service.list_products(tenant_id, page_request))


@router.get("/{product_id}", responses={200: {"headers": ETAG_HEADER}})
async def get_product(
    product_id: UUID, tenant_id: TenantIdDep, service: ProductServiceDep, response: Response
) -> ProductRead:
    product = await service.get(tenant_id, product_id)
    response.headers["ETag"] = etag(product)
    return ProductRead.from_domain(product)


@router.patch(
    "/{product_id}",
    responses={
        200: {"headers": ETAG_HEADER},
        409: {"model": ErrorEnvelope},
        **PRECONDITION_FAILED_RESPONSE,
        **JSON_BODY_RESPONSES,
    },
)
async def update_product(
    product_id: UUID,
    body: ProductUpdate,
    tenant_id: TenantIdDep,
    _json: JsonBodyDep,
    service: ProductServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> ProductRead:
    """Change the fields present in the body; ``ETag`` is the new version."""
    product = await service.update(tenant_id, product_id, body, expected_versions(if_match))
    response.headers["ETag"] = etag(product)
    return ProductRead.from_domain(product)


@router.delete(
    "/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PRECONDITION_FAILED_RESPONSE,
)
async def delete_product(
    product_id: UUID, tenant_id: TenantIdDep, service: ProductServiceDep, if_match: IfMatch = None
) -> None:
    await service.delete(tenant_id, product_id, expected_versions(if_match))
