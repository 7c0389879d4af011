"""Settings of the HTTP server's limits and headers (``stack.install_middleware``)."""

from typing import Self

from pydantic import BaseModel, Field, model_validator

from ..service_settings import ENV_PREFIX


class HttpServerSettings(BaseModel):
    http_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    # Browser origins allowed to call the API; empty turns CORS off.
    cors_allow_origins: list[str] = []
    cors_allow_credentials: bool = False
    # Strict-Transport-Security max-age; 0 sends no HSTS header (e.g. plain-HTTP local work).
    hsts_max_age_seconds: int = Field(default=0, ge=0)
    # Request headers (names and values) larger than this in total are refused with 431.
    http_max_header_bytes: int = Field(default=16 * 1024, gt=0)

    @model_validator(mode="after")
    def _check_cors(self) -> Self:
        if "*" in self.cors_allow_origins and self.cors_allow_credentials:
            raise ValueError(
                f"{ENV_PREFIX}CORS_ALLOW_ORIGINS must list explicit origins, not '*', when "
                f"{ENV_PREFIX}CORS_ALLOW_CREDENTIALS is true"
            )
        return self
