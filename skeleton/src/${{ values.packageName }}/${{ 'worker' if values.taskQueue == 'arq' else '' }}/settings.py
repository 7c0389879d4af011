"""Settings of the arq worker process."""

from arq.connections import RedisSettings

from ..core.config import get_settings
from .tasks import ping


class WorkerSettings:
    """Read by ``arq``: the task functions and the Redis broker."""

    functions = (ping,)
    redis_settings = RedisSettings.from_dsn(get_settings().broker_url.get_secret_value())
