"""Verification of bearer tokens (JWT). The algorithm must be one of the settings' (never
the token's choice alone), and a ``crit`` header is refused: no extension is implemented."""

from dataclasses import dataclass
from typing import Any

import jwt

from .keys import SigningKeys
from .settings import JwtSettings

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    tenant_id: str | None
    roles: frozenset[str]
    claims: dict[str, Any]

    def has_any_role(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)


class TokenVerifier:
    def __init__(self, settings: JwtSettings, keys: SigningKeys) -> None:
        self.keys = keys
        self._algorithms = list(settings.jwt_algorithms)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        self._roles_claim = settings.jwt_roles_claim
        self._tenant_claim = settings.jwt_tenant_claim
        self.read_roles = frozenset({settings.jwt_read_role, settings.jwt_write_role})
        self.write_roles = frozenset({settings.jwt_write_role})

    async def verify(self, token: str) -> Principal:
        """The token's principal; ``jwt.PyJWTError`` if it is not acceptable, and
        ``KeysUnavailable`` if its key cannot be looked up now."""
        header = jwt.get_unverified_header(token)
        if "crit" in header:
            raise jwt.InvalidTokenError("critical header extensions are not supported")
        if header.get("alg") not in self._algorithms:
            raise jwt.InvalidAlgorithmError("the token's algorithm is not allowed")
        key = await self.keys.key_for(header)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=self._algorithms,
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
        )
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise jwt.InvalidTokenError("sub must be a non-empty string")
        tenant_id = claims.get(self._tenant_claim)
        return Principal(
            subject=subject,
            tenant_id=tenant_id if isinstance(tenant_id, str) else None,
            roles=roles_of(claims.get(self._roles_claim)),
            claims=claims,
        )


def roles_of(value: Any) -> frozenset[str]:
    """Roles from a list of strings or a space-separated string (as OAuth's ``scope``)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(role for role in value if isinstance(role, str))
    return frozenset()
