"""Settings of the Aurora connection pools (``db.engine``, ``db.connection_budget``)."""

from pydantic import BaseModel, Field, SecretStr


class DatabaseSettings(BaseModel):
{% if values.database == 'aurora-postgresql' %}
    # Aurora PostgreSQL (writer endpoint), e.g. postgresql+asyncpg://user:pw@host:5432/db.
{% else %}
    # Aurora MySQL (writer endpoint), e.g. mysql+aiomysql://user:password@host:3306/db.
{% endif %}
    database_url: SecretStr | None = None
    # The cluster's reader endpoint; when set, GET requests read from the replicas.
    database_reader_url: SecretStr | None = None
    # Log in with IAM tokens instead of the URL's password (needs the `iam` extra).
    database_iam_auth: bool = False
    # Connections of each pool: every worker process has one pool per endpoint (writer, and
    # reader when set), and a pool never opens more. Unset: derived from the budget below.
    database_pool_size: int | None = Field(default=None, ge=1)
    # The pod's share of the database's max_connections: start-up fails if WEB_CONCURRENCY x
{% if values.events == 'redis-streams' %}
    # (pools per process x pool size + the outbox relay's 1 connection) exceeds it.
{% else %}
    # pools per process x pool size exceeds it.
{% endif %}
    database_max_connections: int = Field(default=100, ge=1)
    # How long a request waits for a free pooled connection before it answers 503.
    database_pool_timeout_seconds: float = Field(default=0.5, gt=0)
    # Recycle connections before Aurora or a proxy drops idle ones.
    database_pool_recycle_seconds: int = Field(default=1800, gt=0)
    # Test each pooled connection with a round trip before use. Off, a connection that a
    # failover closed fails one request (503 with Retry-After), and the pool then replaces
    # every connection it holds.
    database_pool_pre_ping: bool = False
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # The server cancels statements running longer than this.
    database_statement_timeout_seconds: float = Field(default=10.0, gt=0)
