"""Settings of JWT bearer-token authentication."""

from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from ..core.service_settings import ENV_PREFIX, NonEmptyStr, ServiceSettings

# Asymmetric algorithms only: the keys are public (a JWKS or a PEM key), and accepting an
# HS* algorithm beside them would let anyone sign tokens with the public key as the secret.
JwtAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]


class JwtSettings(ServiceSettings):
    # The defaults serve only the local issuer (below); a service that verifies another
    # issuer's tokens must set both, or it fails at startup.
    jwt_issuer: NonEmptyStr = "http://localhost:8000"
    jwt_audience: NonEmptyStr = "${{ values.name }}"
    # The signing keys: the identity provider's JWKS URL, or one PEM public key. Locally
    # with neither, the service signs its own tokens (POST /local/token).
    jwt_jwks_url: str | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: list[JwtAlgorithm] = Field(default=["RS256"], min_length=1)
    # Clock skew tolerated on exp, nbf and iat.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # How long a fetched key set is used before it is fetched again; a token with an unknown
    # key ID fetches it at most once per refetch interval.
    jwt_jwks_cache_seconds: int = Field(default=900, ge=1)
    jwt_jwks_refetch_interval_seconds: float = Field(default=60.0, gt=0)
    jwt_jwks_timeout_seconds: float = Field(default=2.0, gt=0)
    # Claims that name the caller's roles (a list, or a space-separated string) and tenant.
    jwt_roles_claim: NonEmptyStr = "roles"
    jwt_tenant_claim: NonEmptyStr = "tenant_id"
    # TenantIdDep needs the read role for GET and HEAD (the write role also reads), the write
    # role for every other method.
    jwt_read_role: NonEmptyStr = "reader"
    jwt_write_role: NonEmptyStr = "writer"

    @property
    def jwt_signs_locally(self) -> bool:
        return self.uses_stand_ins and self.jwt_jwks_url is None and self.jwt_public_key is None

    @model_validator(mode="after")
    def _check_jwt_keys(self) -> Self:
        unset = [
            name for name in ("jwt_issuer", "jwt_audience") if name not in self.model_fields_set
        ]
        if unset and not self.jwt_signs_locally:
            names = " and ".join(f"{ENV_PREFIX}{name.upper()}" for name in unset)
            raise ValueError(
                f"{names} must be set unless the service signs its own tokens "
                f"({ENV_PREFIX}ENVIRONMENT 'local' with no {ENV_PREFIX}JWT_JWKS_URL or "
                f"{ENV_PREFIX}JWT_PUBLIC_KEY)"
            )
        if self.jwt_jwks_url is not None and self.jwt_public_key is not None:
            raise ValueError(
                f"{ENV_PREFIX}JWT_JWKS_URL and {ENV_PREFIX}JWT_PUBLIC_KEY are both set; set one"
            )
        if self.jwt_jwks_url is None and self.jwt_public_key is None and not self.uses_stand_ins:
            raise ValueError(
                f"{ENV_PREFIX}JWT_JWKS_URL (or {ENV_PREFIX}JWT_PUBLIC_KEY) must be set when "
                f"{ENV_PREFIX}ENVIRONMENT is {self.environment!r}; only 'local' signs its own "
                "tokens"
            )
        if self.jwt_jwks_url is not None:
            url = urlsplit(self.jwt_jwks_url)
            loopback = url.hostname in {"localhost", "127.0.0.1", "::1"}
            if not url.hostname or not (
                url.scheme == "https" or (url.scheme == "http" and loopback)
            ):
                raise ValueError(
                    f"{ENV_PREFIX}JWT_JWKS_URL must be an https:// URL (http:// only on the "
                    "loopback interface): keys fetched in the clear could be replaced"
                )
        return self
