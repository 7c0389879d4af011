"""The tenant of a request: every product belongs to one, and every query is scoped to it.

{% if values.auth == 'jwt' %}
The tenant is the verified bearer token's tenant claim (``auth/access.py``); a caller
cannot choose another one. ``TenantIdDep`` also checks the caller's role (read or write)
and applies their rate limit (``core/rate_limit.py``), all in one dependency.
{% else %}
The caller names its tenant in the ``X-Tenant-ID`` header. ``TenantIdDep`` also applies
the caller's rate limit (``core/rate_limit.py``), in the same dependency.
{% endif %}
"""

import re
from typing import Annotated, Any

{% if values.auth == 'jwt' %}
from fastapi import Depends

from ..auth.access import TenantOfToken
from .errors import ErrorEnvelope
{% else %}
from fastapi import Depends, Header, Request

from .errors import BadRequestError, DuplicateHeaderError, ErrorEnvelope
from .rate_limit import limit_rate_by_address
{% endif %}

TENANT_ID_HEADER = "X-Tenant-ID"

# Letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit; fits a
{% if values.database == 'dynamodb' %}
# 100-character column and a DynamoDB partition key.
{% else %}
# 100-character column.
{% endif %}
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def is_well_formed_tenant_id(value: str) -> bool:
    return _WELL_FORMED.fullmatch(value) is not None


RATE_LIMITED: dict[str, Any] = {
    "model": ErrorEnvelope,
    "description": "Too many requests; retry after the seconds of the Retry-After header.",
}
{% if values.auth == 'jwt' %}
# The responses of TenantIdDep, for the routes' OpenAPI description.
TENANT_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "Missing or invalid bearer token."},
    403: {"model": ErrorEnvelope, "description": "The token lacks the role or the tenant."},
    429: RATE_LIMITED,
}

TenantIdDep = Annotated[str, Depends(TenantOfToken(TENANT_ID_HEADER, is_well_formed_tenant_id))]
{% else %}
# The responses of TenantIdDep, for the routes' OpenAPI description.
TENANT_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {429: RATE_LIMITED}


class TenantRequiredError(BadRequestError):
    code = "TENANT_REQUIRED"


class InvalidTenantError(BadRequestError):
    code = "INVALID_TENANT"


async def get_tenant_id(
    request: Request,
    tenant_id: Annotated[
        str | None,
        Header(
            alias=TENANT_ID_HEADER,
            description="Tenant the request acts for: 1 to 100 letters, digits, '.', '_', '-'.",
        ),
    ] = None,
) -> str:
    """FastAPI dependency: the request's tenant, else a 400 envelope; counts the request
    against the client's rate limit first (429)."""
    await limit_rate_by_address(request)
    if tenant_id is None:
        raise TenantRequiredError(f"The {TENANT_ID_HEADER} header is required.")
    # FastAPI passes the first value; a second one would silently name another tenant.
    if len(request.headers.getlist(TENANT_ID_HEADER)) > 1:
        raise DuplicateHeaderError(TENANT_ID_HEADER)
    if not is_well_formed_tenant_id(tenant_id):
        raise InvalidTenantError(
            f"The {TENANT_ID_HEADER} header must be 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return tenant_id


TenantIdDep = Annotated[str, Depends(get_tenant_id)]
{% endif %}
