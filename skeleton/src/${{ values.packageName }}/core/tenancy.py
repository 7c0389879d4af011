"""The tenant of a request: every product belongs to one, and every query is scoped to it.

{% if values.auth == 'jwt' %}
The tenant is the verified bearer token's tenant claim; a caller cannot choose another one.
``TenantIdDep`` is in ``auth/access.py``, which checks the token against the rules below.
{% else %}
The caller names its tenant in the ``X-Tenant-ID`` header (``TenantIdDep``).
{% endif %}
"""

import re
{% if values.auth != 'jwt' %}
from typing import Annotated

from fastapi import Depends, Header, Request

from .errors import BadRequestError, DuplicateHeaderError
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
{% if values.auth != 'jwt' %}


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
