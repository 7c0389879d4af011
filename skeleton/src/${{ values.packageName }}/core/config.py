"""Service settings, read from environment variables (and a ``.env`` file for local work);
``Settings`` composes the settings each feature declares beside its code."""

import sys
from functools import lru_cache
from typing import NoReturn, Self

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

{% if values.auth == 'jwt' %}
from ..auth.settings import JwtSettings
{% endif %}
{% if values.cache == 'elasticache-redis' %}
from ..cache.settings import CacheSettings
{% endif %}
{% if values.sqlDatabase %}
from ..db.settings import DatabaseSettings
{% elif values.database == 'dynamodb' %}
from ..dynamodb.settings import DynamoDbSettings
{% endif %}
{% if values.events == 'redis-streams' %}
from ..events.settings import EventSettings
{% endif %}
{% if values.taskQueue != 'none' %}
from ..products.notifications.settings import NotificationSettings
from ..worker.queue_settings import TaskQueueSettings
{% endif %}
from .http_client import HttpClientSettings
from .logging import LoggingSettings
from .middleware.settings import HttpServerSettings
from .rate_limit_settings import RateLimitSettings
from .service_settings import ENV_PREFIX, SettingsError
{% if values.datadog %}
from .tracing import TracingSettings
{% endif %}

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "get_settings",
    "get_settings_or_exit",
    "load_settings",
{% if values.taskQueue != 'none' %}
    "load_worker_settings",
{% endif %}
    "refuse_to_start",
]


# The bases are listed last feature first: pydantic reads fields (and runs validators) from
# the last base to the first, so this keeps the order of .env.example.
class Settings(
{% if values.datadog %}
    TracingSettings,
{% endif %}
{% if values.auth == 'jwt' %}
    JwtSettings,
{% endif %}
{% if values.events == 'redis-streams' %}
    EventSettings,
{% endif %}
{% if values.taskQueue != 'none' %}
    NotificationSettings,
    TaskQueueSettings,
{% endif %}
{% if values.cache == 'elasticache-redis' %}
    CacheSettings,
{% endif %}
{% if values.sqlDatabase %}
    DatabaseSettings,
{% elif values.database == 'dynamodb' %}
    DynamoDbSettings,
{% endif %}
    HttpClientSettings,
    RateLimitSettings,
    HttpServerSettings,
    LoggingSettings,
    BaseSettings,
):
    """``log_level`` is read from ``<ENV_PREFIX>LOG_LEVEL``. Defaults suit local work, where
    missing connection URLs mean in-process stand-ins; elsewhere they must be set."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    def missing_dependency_settings(self) -> list[str]:
        missing: list[str] = []
{% if values.sqlDatabase %}
        if self.database_url is None:
            missing.append("database_url")
{% endif %}
{% if values.cache == 'elasticache-redis' %}
        if self.redis_url is None:
            missing.append("redis_url")
{% endif %}
{% if values.taskQueue != 'none' %}
        if self.task_broker_url is None:
            missing.append("task_broker_url")
{% endif %}
{% if values.events == 'redis-streams' %}
        if self.events_redis_url is None:
            missing.append("events_redis_url")
{% endif %}
        return missing

    @model_validator(mode="after")
    def _check_dependencies_configured(self) -> Self:
        missing = self.missing_dependency_settings()
        if missing and not self.uses_stand_ins:
            names = ", ".join(f"{ENV_PREFIX}{name.upper()}" for name in missing)
            raise ValueError(
                f"{names} must be set when {ENV_PREFIX}ENVIRONMENT is {self.environment!r}; "
                "only 'local' runs on in-process stand-ins"
            )
        return self


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        location = problem["loc"]
        message = problem["msg"].removeprefix("Value error, ")
        if location:
            message = f"{ENV_PREFIX}{str(location[0]).upper()}: {message}"
        lines.append(message)
    return "Invalid configuration:\n" + "\n".join(f"  {line}" for line in lines)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()


def refuse_to_start(message: str) -> NoReturn:
    """Status 2 and the message alone: a traceback would bury the variables it names."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def get_settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as error:
        refuse_to_start(str(error))
{% if values.taskQueue != 'none' %}


def load_worker_settings() -> Settings:
    """Without a broker nothing would reach the worker: it exits naming what to set."""
    settings = get_settings_or_exit()
    if settings.task_broker_url is None:
        refuse_to_start(
            f"{ENV_PREFIX}TASK_BROKER_URL is not set: the worker needs the Redis broker the API "
            "sends tasks to (without it, the API runs them in its own process)"
        )
    return settings
{% endif %}
