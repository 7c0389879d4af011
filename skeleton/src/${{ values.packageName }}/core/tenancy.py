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
from typing import Annotated, Any

from fastapi import Depends, Request

from .errors import BadRequestError, DuplicateHeaderError
{% else %}
from typing import Any
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


# The header in the OpenAPI description (a route's ``openapi_extra``), with the rule above
# as its schema: the dependency reads the header itself, to answer 400 rather than 422.
TENANT_ID_PARAMETER: dict[str, Any] = {
    "parameters": [
        {
            "name": TENANT_ID_HEADER,
            "in": "header",
{% if values.auth == 'jwt' %}
            "required": False,
            "description": "Optional: the token names the tenant; if sent, the header must "
            "name the same one (403 otherwise).",
{% else %}
            "required": True,
            "description": "Tenant the request acts for: 1 to 100 letters, digits, '.', '_', "
            "'-', starting with a letter or digit (400 otherwise).",
{% endif %}
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100,
                "pattern": f"^{_WELL_FORMED.pattern}$",
            },
        }
    ]
}
{% if values.auth != 'jwt' %}


class TenantRequiredError(BadRequestError):
    code = "TENANT_REQUIRED"


class InvalidTenantError(BadRequestError):
    code = "INVALID_TENANT"


async def get_tenant_id(request: Request) -> str:
    named = request.headers.getlist(TENANT_ID_HEADER)
    if not named:
        raise TenantRequiredError(f"The {TENANT_ID_HEADER} header is required.")
    # A second value would silently name another tenant.
    if len(named) > 1:
        raise DuplicateHeaderError(TENANT_ID_HEADER)
    tenant_id = named[0]
    if not is_well_formed_tenant_id(tenant_id):
        raise InvalidTenantError(
            f"The {TENANT_ID_HEADER} header must be 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return tenant_id


TenantIdDep = Annotated[str, Depends(get_tenant_id)]
{% endif %}
