"""Settings of the Redis cache (``cache.client``)."""

from pydantic import BaseModel, Field, SecretStr


class CacheSettings(BaseModel):
    # ElastiCache for Redis; rediss:// when in-transit encryption is on, credentials in the
    # URL (AUTH). None locally caches in process.
    redis_url: SecretStr | None = None
    cache_ttl_seconds: int = Field(default=300, ge=1)
    # Short on purpose: a cache that answers slower than this is treated as a miss.
    redis_connect_timeout_seconds: float = Field(default=0.1, gt=0)
    redis_socket_timeout_seconds: float = Field(default=0.1, gt=0)
    # Connections of each process's pool (cache/client.py): a command holds one only while
    # it runs; past them a command waits for one up to redis_socket_timeout_seconds.
    redis_max_connections: int = Field(default=50, ge=1)
    # After this many consecutive cache failures, skip Redis for cache_retry_after_seconds.
    cache_failure_threshold: int = Field(default=3, ge=1)
    cache_retry_after_seconds: float = Field(default=5.0, gt=0)
