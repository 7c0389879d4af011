"""Settings of the outbound HTTP client and its circuit breaker (``core.http_client``)."""

from pydantic import Field

from .service_settings import ServiceSettings


class HttpClientSettings(ServiceSettings):
    http_client_timeout_seconds: float = Field(default=5.0, gt=0)
    http_client_retries: int = Field(default=3, ge=0, le=10)
    circuit_breaker_failure_threshold: int = Field(default=5, ge=1)
    circuit_breaker_reset_seconds: float = Field(default=30.0, gt=0)
