"""Settings of the arq worker process."""

from arq.connections import RedisSettings

from ..core.config import get_settings
from .tasks import ping


def redis_settings() -> RedisSettings:
    """The broker from the ``TASK_BROKER_URL`` setting; without it a Redis on localhost."""
    url = get_settings().task_broker_url
    return RedisSettings.from_dsn(url.get_secret_value()) if url else RedisSettings()


class WorkerSettings:
    """Read by ``arq``: the task functions and the Redis broker."""

    functions = (ping,)
    redis_settings = redis_settings()
