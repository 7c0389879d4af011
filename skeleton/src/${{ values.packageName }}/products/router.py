"""HTTP routes of the products API (``/api/v1/products``); every route acts for the tenant
named by the request, within the client's rate limit."""

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response, status

{% if values.auth == 'jwt' %}
from ..auth.access import WWW_AUTHENTICATE, TenantIdDep
{% endif %}
from ..core.error_responses import RETRY_AFTER, Responses, documented_error
from ..core.json_body import JSON_BODY_RESPONSES, JsonBodyDep
from ..core.rate_limit import limit_rate
{% if values.auth != 'jwt' %}
from ..core.tenancy import TENANT_ID_PARAMETER, TenantIdDep
{% else %}
from ..core.tenancy import TENANT_ID_PARAMETER
{% endif %}
{% if values.sqlDatabase %}
from ..db.transactional_route import TransactionalRoute
{% endif %}
from .dependencies import ProductServiceDep
from .models import Product
from .pagination import LISTING_DESCRIPTION, PageRequestDep, ProductPage
from .schemas import ProductCreate, ProductRead, ProductUpdate

ERROR_RESPONSES: Responses = {
{% if values.database == 'dynamodb' %}
    400: documented_error("Malformed request: an unreadable body, header or cursor."),
{% else %}
    400: documented_error("Malformed request: an unreadable body or header."),
{% endif %}
{% if values.auth == 'jwt' %}
    401: documented_error("Missing or invalid bearer token.", WWW_AUTHENTICATE),
    403: documented_error("The token lacks the role or the tenant.", WWW_AUTHENTICATE),
{% endif %}
    422: documented_error("The request is not valid."),
    429: documented_error(
        "Too many requests; retry after the seconds of the Retry-After header.", RETRY_AFTER
    ),
{% if values.database != 'none' or values.auth == 'jwt' %}
    503: documented_error(
        "A dependency is unavailable for a moment; retry after the seconds of the "
        "Retry-After header.",
        RETRY_AFTER,
    ),
{% endif %}
}
NOT_FOUND_RESPONSE: Responses = {
    404: documented_error("No product with this ID for the tenant (NOT_FOUND)."),
}

router = APIRouter(
    prefix="/products",
    tags=["products"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(limit_rate)],
{% if values.sqlDatabase %}
    route_class=TransactionalRoute,
{% endif %}
)

# A product's ETag is its version as a strong entity tag: "3". A listing's items carry no
# header, but their ``version`` gives the same tag.
ETAG_HEADER = {
    "ETag": {
        "description": 'The product\'s version as an entity tag, e.g. "3"; send it back in '
        "If-Match to change or delete only that version.",
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$', "maxLength": 20},
    }
}
LOCATION_HEADER = {
    "Location": {
        "description": "The new product's URL.",
        "required": True,
        "schema": {"type": "string", "format": "uri", "maxLength": 2048},
    }
}
PRECONDITION_FAILED_RESPONSE: Responses = {
    412: documented_error("If-Match names no version the product is at (PRECONDITION_FAILED).")
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
    responses={201: {"headers": {**LOCATION_HEADER, **ETAG_HEADER}}, **JSON_BODY_RESPONSES},
    openapi_extra=TENANT_ID_PARAMETER,
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
    # The collection's URL (this request's, without its query) and the ID: what url_for would
    # build for get_product, without looking the route up among all routes on every create.
    response.headers["Location"] = f"{request.url.replace(query='')}/{product.id}"
    response.headers["ETag"] = etag(product)
    return ProductRead.from_domain(product)


# Described in pagination.py, beside the pages it describes.
@router.get("", description=LISTING_DESCRIPTION, openapi_extra=TENANT_ID_PARAMETER)
async def list_products(
    tenant_id: TenantIdDep, service: ProductServiceDep, page_request: PageRequestDep
) -> ProductPage:
    return ProductPage.from_page(await service.list_products(tenant_id, page_request))


@router.get(
    "/{product_id}",
    responses={200: {"headers": ETAG_HEADER}, **NOT_FOUND_RESPONSE},
    openapi_extra=TENANT_ID_PARAMETER,
)
async def get_product(
    product_id: UUID, tenant_id: TenantIdDep, service: ProductServiceDep, response: Response
) -> ProductRead:
    """One product; ``ETag`` is its version."""
    product = await service.get(tenant_id, product_id)
    response.headers["ETag"] = etag(product)
    return ProductRead.from_domain(product)


@router.patch(
    "/{product_id}",
    responses={
        200: {"headers": ETAG_HEADER},
        **NOT_FOUND_RESPONSE,
        409: documented_error("Another request changed the product meanwhile (CONFLICT)."),
        **PRECONDITION_FAILED_RESPONSE,
        **JSON_BODY_RESPONSES,
    },
    openapi_extra=TENANT_ID_PARAMETER,
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
    responses={**NOT_FOUND_RESPONSE, **PRECONDITION_FAILED_RESPONSE},
    openapi_extra=TENANT_ID_PARAMETER,
)
async def delete_product(
    product_id: UUID, tenant_id: TenantIdDep, service: ProductServiceDep, if_match: IfMatch = None
) -> None:
    """Delete the product; with If-Match, only at that version."""
    await service.delete(tenant_id, product_id, expected_versions(if_match))
