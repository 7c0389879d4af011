"""Service settings, read from environment variables."""

from functools import lru_cache
from typing import Literal

{% if values.database in ['aurora-postgresql', 'aurora-mysql'] or values.cache != 'none' or values.taskQueue != 'none' %}
from pydantic import SecretStr
{% endif %}
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Each field is read from the environment variable named after it in upper case, with
    the prefix below: ``log_level`` from ``<PREFIX>LOG_LEVEL``.

    Defaults suit local development. Connection URLs can carry credentials, so they are
    secrets that never appear in logs or reprs.
    """

    model_config = SettingsConfigDict(
        env_prefix="${{ values.envPrefix }}",
        extra="ignore",
    )

    service_name: str = "${{ values.name }}"
    environment: str = "local"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = True
{% if values.database == 'aurora-postgresql' %}

    # Aurora PostgreSQL, through SQLAlchemy's asyncpg driver.
    database_url: SecretStr = SecretStr("postgresql+asyncpg://app@localhost:5432/app")
{% elif values.database == 'aurora-mysql' %}

    # Aurora MySQL, through SQLAlchemy's aiomysql driver.
    database_url: SecretStr = SecretStr("mysql+aiomysql://app@localhost:3306/app")
{% endif %}
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
    database_pool_size: int = 5
    database_max_overflow: int = 10
    # Recycle connections before Aurora or a proxy drops idle ones.
    database_pool_recycle_seconds: int = 1800
{% elif values.database == 'dynamodb' %}

    # DynamoDB; credentials come from the standard AWS chain (role, env, profile).
    dynamodb_table: str = "${{ values.name }}"
    aws_region: str = "us-east-1"
    # Set to e.g. http://localhost:8000 for DynamoDB Local; None means AWS.
    dynamodb_endpoint_url: str | None = None
{% endif %}
{% if values.cache == 'elasticache-redis' %}

    # ElastiCache for Redis; use rediss:// when in-transit encryption is on.
    redis_url: SecretStr = SecretStr("redis://localhost:6379/0")
{% endif %}
{% if values.taskQueue != 'none' %}

    # Redis broker of the ${{ values.taskQueue }} worker.
    broker_url: SecretStr = SecretStr("redis://localhost:6379/1")
{% endif %}
{% if values.auth == 'jwt' %}

    # JWT bearer tokens: no defaults, so a deployment without them fails at startup.
    jwt_jwks_url: str
    jwt_issuer: str
    jwt_audience: str
    jwt_algorithms: list[str] = ["RS256"]
{% endif %}
{% if values.datadog %}

    # Datadog APM: the service runs under ddtrace-run, which also adds dd.trace_id and
    # dd.span_id to the log lines. False turns tracing off, e.g. where no agent runs.
    datadog_enabled: bool = True
{% endif %}


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()
