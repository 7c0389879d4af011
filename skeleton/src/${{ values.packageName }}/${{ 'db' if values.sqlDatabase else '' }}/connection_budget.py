{% if values.events == 'redis-streams' %}
"""Each uvicorn worker process has its own pools, and its outbox relay a connection of its
own: a pod refuses to start if together they could open more connections than its share of
the database's ``max_connections``. A pool never opens connections beyond its size (no
overflow): under load, connections opened only to be closed again when they are returned
would cost a connect each."""
{% else %}
"""Each uvicorn worker process has its own pools: a pod refuses to start if together they could
open more connections than its share of the database's ``max_connections``. A pool never
opens connections beyond its size (no overflow): under load, connections opened only to be
closed again when they are returned would cost a connect each."""
{% endif %}

import os

from ..core.config import ENV_PREFIX, SettingsError
from .settings import DatabaseSettings

# The size a pool gets when DATABASE_POOL_SIZE is unset and the budget allows more: with short
# statements a process's own CPU runs out first, so more would only hold the database's
# connections idle.
DERIVED_POOL_SIZE_LIMIT = 20
{% if values.events == 'redis-streams' %}
# The outbox relay's own connection in each process (``events.outbox_sql``), so requests
# holding every pooled connection never hold up events.
RELAY_CONNECTIONS_PER_WORKER = 1
{% endif %}


def uvicorn_workers() -> int:
    """``WEB_CONCURRENCY``, read as uvicorn reads it."""
    value = os.environ.get("WEB_CONCURRENCY", "1")
    try:
        return max(int(value), 1)
    except ValueError:
        raise SettingsError(f"WEB_CONCURRENCY must be a whole number, not {value!r}") from None


def pools_per_worker(settings: DatabaseSettings) -> int:
    """The writer's pool, and the reader's: without replicas Aurora's reader endpoint leads to
    the writer, so its connections count against the same budget."""
    return 1 if settings.database_reader_url is None else 2


def pool_size_within_budget(settings: DatabaseSettings, workers: int) -> int:
    """``DATABASE_POOL_SIZE``, or when it is unset the pools' equal share of
{% if values.events == 'redis-streams' %}
    ``DATABASE_MAX_CONNECTIONS`` less the relay's connections, at most
    ``DERIVED_POOL_SIZE_LIMIT``; refuses a size the budget cannot hold."""
    pools = pools_per_worker(settings)
    budget = settings.database_max_connections
    share = budget // workers - RELAY_CONNECTIONS_PER_WORKER
    size = settings.database_pool_size or max(min(share // pools, DERIVED_POOL_SIZE_LIMIT), 1)
    connections = workers * (pools * size + RELAY_CONNECTIONS_PER_WORKER)
    if connections > budget:
        per_pool = (
            f"{ENV_PREFIX}DATABASE_POOL_SIZE ({size})"
            if settings.database_pool_size
            else "1 connection"
        )
        raise SettingsError(
            f"WEB_CONCURRENCY ({workers}) x ({pools} pool(s) per process x {per_pool} "
            f"+ {RELAY_CONNECTIONS_PER_WORKER} outbox relay connection) = {connections} "
            f"connections, more than {ENV_PREFIX}DATABASE_MAX_CONNECTIONS ({budget})"
        )
    return size
{% else %}
    ``DATABASE_MAX_CONNECTIONS``, at most ``DERIVED_POOL_SIZE_LIMIT``; refuses a size the
    budget cannot hold."""
    pools = workers * pools_per_worker(settings)
    budget = settings.database_max_connections
    size = settings.database_pool_size or max(min(budget // pools, DERIVED_POOL_SIZE_LIMIT), 1)
    if pools * size > budget:
        per_pool = (
            f"{ENV_PREFIX}DATABASE_POOL_SIZE ({size})"
            if settings.database_pool_size
            else "1 connection"
        )
        raise SettingsError(
            f"WEB_CONCURRENCY ({workers}) x {pools // workers} pool(s) per process x {per_pool} "
            f"= {pools * size} connections, more than {ENV_PREFIX}DATABASE_MAX_CONNECTIONS "
            f"({budget})"
        )
    return size
{% endif %}
