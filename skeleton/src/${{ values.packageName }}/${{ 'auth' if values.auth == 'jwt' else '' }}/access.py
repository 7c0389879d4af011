"""FastAPI dependencies that authenticate a request by its bearer token and authorise it.

- ``TenantIdDep`` (``core/tenancy.py``) is ``TenantOfToken``: the tenant named by the
  token's tenant claim, for a caller with the read role (GET, HEAD) or the write role
  (every other method). An ``X-Tenant-ID`` header that names another tenant is refused
  (403), and so is one sent twice (400).
- ``require_role("admin", ...)``: the caller, if they have one of the roles.
- ``PrincipalDep``: the caller, whatever their roles.

Each is a single dependency, declared as the ``bearer`` security scheme in the OpenAPI
description, that also applies the caller's rate limit: by the token's subject once it is
verified, else by the client's IP address. A missing or invalid token answers 401 with
``WWW-Authenticate: Bearer``, a missing role or tenant 403, both in the error envelope.
"""

from collections.abc import Callable
from typing import Annotated, ClassVar

import jwt
import structlog
from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from ..core.errors import DuplicateHeaderError, ServiceError
from ..core.rate_limit import limit_rate_by_address, limit_rate_by_subject
from .tokens import Principal, TokenVerifier

logger = structlog.stdlib.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class BearerAuthentication(SecurityBase):
    """Base of the dependencies: the verified principal of the request's bearer token."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(bearerFormat="JWT")
        self.scheme_name = "bearer"

    async def authenticate(self, request: Request) -> Principal:
        verifier: TokenVerifier = request.app.state.token_verifier
        token = bearer_token(request)
        if token is None:
            await limit_rate_by_address(request)
            raise MissingToken("A bearer token is required.")
        try:
            principal = await verifier.verify(token)
        except jwt.PyJWTError as error:
            await limit_rate_by_address(request)
            logger.info("bearer token refused", reason=type(error).__name__)
            if isinstance(error, jwt.ExpiredSignatureError):
                raise InvalidToken("The bearer token has expired.") from None
            raise InvalidToken("The bearer token is not valid.") from None
        await limit_rate_by_subject(request, principal.subject)
        return principal

    @staticmethod
    def authorize(principal: Principal, roles: frozenset[str]) -> None:
        """403 unless the caller has one of ``roles``."""
        if not principal.has_any_role(roles):
            raise Forbidden(f"This operation needs one of the roles {sorted(roles)}.")


class Authenticated(BearerAuthentication):
    async def __call__(self, request: Request) -> Principal:
        return await self.authenticate(request)


class RoleRequired(BearerAuthentication):
    def __init__(self, roles: frozenset[str]) -> None:
        super().__init__()
        self.roles = roles

    async def __call__(self, request: Request) -> Principal:
        principal = await self.authenticate(request)
        self.authorize(principal, self.roles)
        return principal


def require_role(*roles: str) -> RoleRequired:
    """Dependency: the verified caller if they have one of ``roles``, else 403. Use it as
    ``Annotated[Principal, Depends(require_role("admin"))]`` or in a route's
    ``dependencies``."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    return RoleRequired(frozenset(roles))


class TenantOfToken(BearerAuthentication):
    """The tenant of the verified token, for a caller with the role the method needs."""

    def __init__(self, tenant_header: str, is_valid_tenant: Callable[[str], bool]) -> None:
        super().__init__()
        self._tenant_header = tenant_header
        self._is_valid_tenant = is_valid_tenant

    async def __call__(self, request: Request) -> str:
        principal = await self.authenticate(request)
        verifier: TokenVerifier = request.app.state.token_verifier
        needed = verifier.read_roles if request.method in SAFE_METHODS else verifier.write_roles
        self.authorize(principal, needed)
        tenant_id = principal.tenant_id
        if tenant_id is None or not self._is_valid_tenant(tenant_id):
            raise Forbidden("The bearer token names no valid tenant.")
        named = request.headers.getlist(self._tenant_header)
        if len(named) > 1:
            raise DuplicateHeaderError(self._tenant_header)
        if named and named[0] != tenant_id:
            raise Forbidden(f"The {self._tenant_header} header names another tenant.")
        return tenant_id


PrincipalDep = Annotated[Principal, Depends(Authenticated())]
