"""A local stand-in for the identity provider: locally with no JWT keys configured, the
service makes a key pair on every start, in memory only, and ``POST /local/token`` issues
tokens signed with it. Settings validation refuses this outside ``local``."""

import time
from typing import Annotated, Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import NotFoundError
from ..deps import TokenVerifierDep
from .keys import VerificationKey
from .settings import JwtSettings

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm in _CURVES:
        return ec.generate_private_key(_CURVES[algorithm])
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LocalIssuer:
    """Signs tokens with a key of its own, and is the signing keys that verify them."""

    def __init__(self, settings: JwtSettings) -> None:
        self.algorithm = settings.jwt_algorithms[0]
        self._private_key = generate_private_key(self.algorithm)
        self._public_key = self._private_key.public_key()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._roles_claim = settings.jwt_roles_claim
        self._tenant_claim = settings.jwt_tenant_claim
        self.default_roles = [settings.jwt_read_role, settings.jwt_write_role]

    async def key_for(self, header: dict[str, Any]) -> VerificationKey:
        return self._public_key

    def issue(
        self, *, subject: str, tenant_id: str, roles: list[str], lifetime_seconds: int
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime_seconds,
            self._tenant_claim: tenant_id,
            self._roles_claim: roles,
        }
        return jwt.encode(claims, self._private_key, algorithm=self.algorithm)


class LocalTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, Field(min_length=1, max_length=255)] = "developer"
    tenant_id: Annotated[str, Field(min_length=1, max_length=100)] = "local"
    # Default: the read and the write role.
    roles: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = None
    expires_in: Annotated[int, Field(ge=1, le=24 * 3600)] = 3600


class LocalTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


router = APIRouter(tags=["local"], include_in_schema=False)


@router.post("/local/token")
async def issue_local_token(
    verifier: TokenVerifierDep, body: LocalTokenRequest | None = None
) -> LocalTokenResponse:
    """A token for local work, e.g. ``curl -X POST localhost:8000/local/token``."""
    issuer = verifier.keys
    if not isinstance(issuer, LocalIssuer):
        raise NotFoundError("route", "/local/token")
    body = body or LocalTokenRequest()
    token = issuer.issue(
        subject=body.subject,
        tenant_id=body.tenant_id,
        roles=issuer.default_roles if body.roles is None else body.roles,
        lifetime_seconds=body.expires_in,
    )
    return LocalTokenResponse(access_token=token, expires_in=body.expires_in)
