"""Settings of ``core.rate_limit``, apart from it because it imports ``deps``, which imports
``core.config``."""

from pydantic import Field

from .service_settings import ServiceSettings


class RateLimitSettings(ServiceSettings):
    # API requests per client (token subject, else IP address) and window; beyond, 429 with
    # Retry-After. 0 turns the limit off.
    rate_limit_requests: int = Field(default=6000, ge=0)
    rate_limit_window_seconds: int = Field(default=60, ge=1)
