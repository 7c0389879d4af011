"""The tenant of a request: every product belongs to one, and every query is scoped to it."""

import re
from typing import Annotated

from fastapi import Depends, Header

from .errors import BadRequestError

TENANT_ID_HEADER = "X-Tenant-ID"

# Letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit; fits a
# 100-character column and a DynamoDB partition key.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class TenantRequiredError(BadRequestError):
    code = "TENANT_REQUIRED"


class InvalidTenantError(BadRequestError):
    code = "INVALID_TENANT"


def is_well_formed_tenant_id(value: str) -> bool:
    return _WELL_FORMED.fullmatch(value) is not None


async def get_tenant_id(
    tenant_id: Annotated[
        str | None,
        Header(
            alias=TENANT_ID_HEADER,
            description="Tenant the request acts for: 1 to 100 letters, digits, '.', '_', '-'.",
        ),
    ] = None,
) -> str:
    """FastAPI dependency: the request's tenant, else a 400 envelope."""
    if tenant_id is None:
        raise TenantRequiredError(f"The {TENANT_ID_HEADER} header is required.")
    if not is_well_formed_tenant_id(tenant_id):
        raise InvalidTenantError(
            f"The {TENANT_ID_HEADER} header must be 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return tenant_id


TenantIdDep = Annotated[str, Depends(get_tenant_id)]
