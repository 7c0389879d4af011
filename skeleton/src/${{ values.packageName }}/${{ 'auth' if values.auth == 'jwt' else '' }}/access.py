"""Dependencies that authenticate a request by its bearer token and authorise it:
``TenantIdDep`` (the token's tenant, for the read role on GET and HEAD, else the write role),
``require_role(...)`` and ``PrincipalDep``. They share ``AuthenticationDep``, the token
checked once per request, which the rate limit reads too."""

from dataclasses import dataclass
from typing import Annotated, ClassVar

import jwt
import structlog
from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from ..core.errors import DuplicateHeaderError, ServiceError
from ..core.tenancy import TENANT_ID_HEADER, is_well_formed_tenant_id
from ..deps import TokenVerifierDep
from .tokens import Principal

logger = structlog.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The challenge of every 401 and 403, declared in the OpenAPI description (RFC 6750).
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'The bearer challenge, e.g. Bearer error="invalid_token".',
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer", "maxLength": 100},
    }
}


class MissingToken(ServiceError):  # noqa: N818 (reads as the response it becomes)
    status_code = 401
    code = "UNAUTHORIZED"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class InvalidToken(ServiceError):  # noqa: N818 (reads as the response it becomes)
    status_code = 401
    code = "UNAUTHORIZED"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class Forbidden(ServiceError):  # noqa: N818 (reads as the response it becomes)
    status_code = 403
    code = "FORBIDDEN"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer error="insufficient_scope"'}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True, slots=True)
class Authentication:
    """The request's verified caller, or the 401 that refuses it: raised only when a
    dependency asks for ``principal``, so the rate limit can count the request first."""

    outcome: Principal | ServiceError

    @property
    def subject(self) -> str | None:
        return self.outcome.subject if isinstance(self.outcome, Principal) else None

    @property
    def principal(self) -> Principal:
        if isinstance(self.outcome, ServiceError):
            raise self.outcome
        return self.outcome


class BearerAuthentication(SecurityBase):
    """The ``bearer`` security scheme: checks the request's token, refusing nothing yet."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT",
            description="A JWT checked as RFC8725 (JWT Best Current Practices) asks: "
            "asymmetric algorithms from the settings only, never the token's choice; issuer, "
            "audience, expiry and subject required; unknown crit headers refused.",
        )
        self.scheme_name = "bearer"

    async def __call__(self, request: Request, verifier: TokenVerifierDep) -> Authentication:
        token = bearer_token(request)
        if token is None:
            return Authentication(MissingToken("A bearer token is required."))
        try:
            return Authentication(await verifier.verify(token))
        except jwt.PyJWTError as error:
            logger.info("bearer token refused", reason=type(error).__name__)
            if isinstance(error, jwt.ExpiredSignatureError):
                return Authentication(InvalidToken("The bearer token has expired."))
            return Authentication(InvalidToken("The bearer token is not valid."))


AuthenticationDep = Annotated[Authentication, Depends(BearerAuthentication())]


def authorize(principal: Principal, roles: frozenset[str]) -> None:
    if not principal.has_any_role(roles):
        raise Forbidden(f"This operation needs one of the roles {sorted(roles)}.")


async def get_principal(authentication: AuthenticationDep) -> Principal:
    return authentication.principal


class RoleRequired:
    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    async def __call__(self, authentication: AuthenticationDep) -> Principal:
        principal = authentication.principal
        authorize(principal, self.roles)
        return principal


def require_role(*roles: str) -> RoleRequired:
    """Use as ``Annotated[Principal, Depends(require_role("admin"))]`` or in a route's
    ``dependencies``."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    return RoleRequired(frozenset(roles))


async def get_tenant_id(
    request: Request, authentication: AuthenticationDep, verifier: TokenVerifierDep
) -> str:
    principal = authentication.principal
    needed = verifier.read_roles if request.method in SAFE_METHODS else verifier.write_roles
    authorize(principal, needed)
    tenant_id = principal.tenant_id
    if tenant_id is None or not is_well_formed_tenant_id(tenant_id):
        raise Forbidden("The bearer token names no valid tenant.")
    named = request.headers.getlist(TENANT_ID_HEADER)
    if len(named) > 1:
        raise DuplicateHeaderError(TENANT_ID_HEADER)
    if named and named[0] != tenant_id:
        raise Forbidden(f"The {TENANT_ID_HEADER} header names another tenant.")
    return tenant_id


PrincipalDep = Annotated[Principal, Depends(get_principal)]
TenantIdDep = Annotated[str, Depends(get_tenant_id)]
