"""Settings of ``core.rate_limit``, apart from it because it imports ``deps``, which imports
``core.config``."""

from pydantic import Field

from .service_settings import ServiceSettings


class RateLimitSettings(ServiceSettings):
    # API requests per client (token subject, else IP address) and window; beyond, 429 with
    # Retry-After. 0 turns the limit off.
    rate_limit_requests: int = Field(default=6000, ge=0)
    rate_limit_window_seconds: int = Field(default=60, ge=1)
{% if values.cache == 'elasticache-redis' %}
    # Most requests of a client's window budget a replica takes from Redis at once (leases
    # start at one and double); what it does not use by the window's end is lost, so a
    # client may get up to replicas x this fewer than the limit.
    rate_limit_max_lease_requests: int = Field(default=50, ge=1)
{% endif %}
