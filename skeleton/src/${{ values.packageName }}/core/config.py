"""Service settings, read from environment variables (and a ``.env`` file for local work)."""

import sys
from functools import lru_cache
from typing import Annotated, Literal, NoReturn, Self
{% if values.auth == 'jwt' %}
from urllib.parse import urlsplit
{% endif %}

{% if values.database in ['aurora-postgresql', 'aurora-mysql'] or values.cache != 'none' or values.taskQueue != 'none' %}
from pydantic import Field, SecretStr, ValidationError, model_validator
{% else %}
from pydantic import Field, ValidationError, model_validator
{% endif %}
from pydantic_settings import BaseSettings, SettingsConfigDict

from .. import __version__

ENV_PREFIX = "${{ values.envPrefix }}"

Environment = Literal["local", "test", "development", "staging", "production"]
NonEmptyStr = Annotated[str, Field(min_length=1)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
{% if values.auth == 'jwt' %}
# Asymmetric algorithms only: the keys are public (a JWKS or a PEM key), and accepting an
# HS* algorithm beside them would let anyone sign tokens with the public key as the secret.
JwtAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]
{% endif %}


class SettingsError(RuntimeError):
    """The configuration is invalid; the message names the environment variables to fix."""


class Settings(BaseSettings):
    """Each field is read from the environment variable named after it in upper case, with
    the prefix ``ENV_PREFIX``: ``log_level`` from ``<ENV_PREFIX>LOG_LEVEL``.

    Defaults suit local development. With ``environment=local`` and no connection URL the
    service runs on in-process stand-ins; every other environment must configure its
    dependencies. Connection URLs and keys are ``SecretStr``: never shown in logs or reprs.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = "local"
    service_name: NonEmptyStr = "${{ values.name }}"
    version: NonEmptyStr = __version__
    # The service's own loggers; every other library's log at log_level_third_party.
    log_level: LogLevel = "INFO"
    log_level_third_party: LogLevel = "WARNING"
    # None: readable lines when environment is local, JSON lines elsewhere.
    log_json: bool | None = None

    # HTTP server
    http_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    # Browser origins allowed to call the API; empty turns CORS off.
    cors_allow_origins: list[str] = []
    cors_allow_credentials: bool = False
    # Strict-Transport-Security max-age; 0 sends no HSTS header (e.g. plain-HTTP local work).
    hsts_max_age_seconds: int = Field(default=0, ge=0)
    # Request headers (names and values) larger than this in total are refused with 431.
    http_max_header_bytes: int = Field(default=16 * 1024, gt=0)
    # API requests per client (token subject, else IP address) and window; beyond, 429 with
    # Retry-After. 0 turns the limit off.
    rate_limit_requests: int = Field(default=6000, ge=0)
    rate_limit_window_seconds: int = Field(default=60, ge=1)

    # Outbound HTTP client
    http_client_timeout_seconds: float = Field(default=5.0, gt=0)
    http_client_retries: int = Field(default=3, ge=0, le=10)
    circuit_breaker_failure_threshold: int = Field(default=5, ge=1)
    circuit_breaker_reset_seconds: float = Field(default=30.0, gt=0)
{% if values.database == 'aurora-postgresql' %}

    # Aurora PostgreSQL (writer endpoint), e.g. postgresql+asyncpg://user:pw@host:5432/db.
    database_url: SecretStr | None = None
{% elif values.database == 'aurora-mysql' %}

    # Aurora MySQL (writer endpoint), e.g. mysql+aiomysql://user:password@host:3306/db.
    database_url: SecretStr | None = None
{% endif %}
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
    # The cluster's reader endpoint; when set, GET requests read from the replicas.
    database_reader_url: SecretStr | None = None
    # Log in with IAM tokens instead of the URL's password (needs the `iam` extra).
    database_iam_auth: bool = False
    # Per worker process (each has its own pool).
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    # Start-up fails if WEB_CONCURRENCY x (pool size + overflow) exceeds this: the pod's share
    # of the database's max_connections.
    database_max_connections: int = Field(default=100, ge=1)
    # How long a request waits for a free pooled connection.
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    # Recycle connections before Aurora or a proxy drops idle ones.
    database_pool_recycle_seconds: int = Field(default=1800, gt=0)
    # Test each pooled connection with a round trip before use. Off, a connection that a
    # failover closed fails one request (503 with Retry-After), and the pool then replaces
    # every connection it holds.
    database_pool_pre_ping: bool = False
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # The server cancels statements running longer than this.
    database_statement_timeout_seconds: float = Field(default=10.0, gt=0)
{% elif values.database == 'dynamodb' %}

    # DynamoDB; credentials come from the standard AWS chain (role, env, profile).
    dynamodb_table: NonEmptyStr = "${{ values.name }}"
    aws_region: NonEmptyStr = "us-east-1"
    # e.g. http://localhost:8001 for the moto server of docker-compose.yml; None means AWS
    # (locally: a moto server started in process).
    dynamodb_endpoint_url: str | None = None
    # Short timeouts instead of botocore's 60 s; each attempt of a call has them.
    dynamodb_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    dynamodb_read_timeout_seconds: float = Field(default=2.0, gt=0)
    # Attempts per call, the first included; retries back off (and adapt to throttling).
    dynamodb_max_attempts: int = Field(default=3, ge=1, le=10)
    dynamodb_retry_mode: Literal["standard", "adaptive"] = "standard"
{% endif %}
{% if values.cache == 'elasticache-redis' %}

    # ElastiCache for Redis; rediss:// when in-transit encryption is on, credentials in the
    # URL (AUTH). None locally caches in process.
    redis_url: SecretStr | None = None
    cache_ttl_seconds: int = Field(default=300, ge=1)
    # Short on purpose: a cache that answers slower than this is treated as a miss.
    redis_connect_timeout_seconds: float = Field(default=0.1, gt=0)
    redis_socket_timeout_seconds: float = Field(default=0.1, gt=0)
    redis_max_connections: int = Field(default=50, ge=1)
    # After this many consecutive cache failures, skip Redis for cache_retry_after_seconds.
    cache_failure_threshold: int = Field(default=3, ge=1)
    cache_retry_after_seconds: float = Field(default=5.0, gt=0)
{% endif %}
{% if values.taskQueue != 'none' %}

    # Redis broker of the ${{ values.taskQueue }} worker; rediss:// when in-transit encryption is on.
    # Locally without it, tasks run in the API process.
    task_broker_url: SecretStr | None = None
    # The queue of this service's tasks; it also prefixes their Redis keys.
    task_queue_name: NonEmptyStr = "${{ values.name }}"
    # A running task is stopped after this long; the worker's shutdown waits as long.
    task_time_limit_seconds: int = Field(default=60, gt=0)
    # Failed attempts are retried after a random delay of up to 1, 2, 4, ... seconds.
    task_max_retries: int = Field(default=5, ge=0)
    task_retry_backoff_max_seconds: int = Field(default=300, gt=0)
{% if values.taskQueue == 'celery' %}
    # An unacknowledged task is delivered again after this long (a worker died holding it):
    # longer than the time limit plus the longest retry delay, or tasks would run twice.
    task_visibility_timeout_seconds: int = Field(default=3600, gt=0)
{% endif %}
    # Receives a POST for each new product; without it the notification is only logged.
    notification_webhook_url: SecretStr | None = None
{% endif %}
{% if values.auth == 'jwt' %}

    # JWT bearer tokens. The defaults serve only the local issuer (below); a service that
    # verifies another issuer's tokens must set both, or it fails at startup.
    jwt_issuer: NonEmptyStr = "http://localhost:8000"
    jwt_audience: NonEmptyStr = "${{ values.name }}"
    # The signing keys: the identity provider's JWKS URL, or one PEM public key. Locally
    # with neither, the service signs its own tokens (POST /local/token).
    jwt_jwks_url: str | None = None
    jwt_public_key: str | None = None
    # Accepted `alg` values; asymmetric only (see JwtAlgorithm).
    jwt_algorithms: list[JwtAlgorithm] = Field(default=["RS256"], min_length=1)
    # Clock skew tolerated on exp, nbf and iat.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # How long a fetched key set is used before it is fetched again; a token with an unknown
    # key ID fetches it at most once per refetch interval.
    jwt_jwks_cache_seconds: int = Field(default=900, ge=1)
    jwt_jwks_refetch_interval_seconds: float = Field(default=60.0, gt=0)
    jwt_jwks_timeout_seconds: float = Field(default=2.0, gt=0)
    # Claims that name the caller's roles (a list, or a space-separated string) and tenant.
    jwt_roles_claim: NonEmptyStr = "roles"
    jwt_tenant_claim: NonEmptyStr = "tenant_id"
    # Role needed to read (GET, HEAD) through TenantIdDep; the write role also reads.
    jwt_read_role: NonEmptyStr = "reader"
    # Role needed for every other method (POST, PATCH, DELETE, ...).
    jwt_write_role: NonEmptyStr = "writer"
{% endif %}
{% if values.datadog %}

    # Datadog APM; false turns tracing off, e.g. where no agent runs.
    datadog_enabled: bool = True
{% endif %}

    @property
    def logs_json(self) -> bool:
        """True when log lines are JSON objects (log_json, else all but local runs)."""
        return self.log_json if self.log_json is not None else self.environment != "local"

    @property
    def uses_stand_ins(self) -> bool:
        """True when the service runs its dependencies in process (local work only)."""
        return self.environment == "local"
{% if values.auth == 'jwt' %}

    @property
    def jwt_signs_locally(self) -> bool:
        """True when the service signs its own tokens: locally, with no key configured."""
        return self.uses_stand_ins and self.jwt_jwks_url is None and self.jwt_public_key is None
{% endif %}

    def missing_dependency_settings(self) -> list[str]:
        """Names of the connection settings that are not configured."""
        missing: list[str] = []
{% if values.database in ['aurora-postgresql', 'aurora-mysql'] %}
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
        return missing

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if "*" in self.cors_allow_origins and self.cors_allow_credentials:
            raise ValueError(
                f"{ENV_PREFIX}CORS_ALLOW_ORIGINS must list explicit origins, not '*', when "
                f"{ENV_PREFIX}CORS_ALLOW_CREDENTIALS is true"
            )
{% if values.taskQueue == 'celery' %}
        longest_hold = self.task_time_limit_seconds + self.task_retry_backoff_max_seconds
        if self.task_visibility_timeout_seconds <= longest_hold:
            raise ValueError(
                f"{ENV_PREFIX}TASK_VISIBILITY_TIMEOUT_SECONDS must exceed "
                f"{ENV_PREFIX}TASK_TIME_LIMIT_SECONDS + {ENV_PREFIX}TASK_RETRY_BACKOFF_MAX_SECONDS "
                f"({longest_hold}), or tasks still running or waiting to retry are redelivered"
            )
{% endif %}
{% if values.auth == 'jwt' %}
        self._check_jwt_keys()
{% endif %}
        missing = self.missing_dependency_settings()
        if missing and not self.uses_stand_ins:
            names = ", ".join(f"{ENV_PREFIX}{name.upper()}" for name in missing)
            raise ValueError(
                f"{names} must be set when {ENV_PREFIX}ENVIRONMENT is {self.environment!r}; "
                "only 'local' runs on in-process stand-ins"
            )
        return self
{% if values.auth == 'jwt' %}

    def _check_jwt_keys(self) -> None:
        unset = [
            name for name in ("jwt_issuer", "jwt_audience") if name not in self.model_fields_set
        ]
        if unset and not self.jwt_signs_locally:
            names = " and ".join(f"{ENV_PREFIX}{name.upper()}" for name in unset)
            raise ValueError(
                f"{names} must be set unless the service signs its own tokens "
                f"({ENV_PREFIX}ENVIRONMENT 'local' with no {ENV_PREFIX}JWT_JWKS_URL or "
                f"{ENV_PREFIX}JWT_PUBLIC_KEY)"
            )
        if self.jwt_jwks_url is not None and self.jwt_public_key is not None:
            raise ValueError(
                f"{ENV_PREFIX}JWT_JWKS_URL and {ENV_PREFIX}JWT_PUBLIC_KEY are both set; set one"
            )
        if self.jwt_jwks_url is None and self.jwt_public_key is None and not self.uses_stand_ins:
            raise ValueError(
                f"{ENV_PREFIX}JWT_JWKS_URL (or {ENV_PREFIX}JWT_PUBLIC_KEY) must be set when "
                f"{ENV_PREFIX}ENVIRONMENT is {self.environment!r}; only 'local' signs its own "
                "tokens"
            )
        if self.jwt_jwks_url is not None:
            url = urlsplit(self.jwt_jwks_url)
            loopback = url.hostname in {"localhost", "127.0.0.1", "::1"}
            if not url.hostname or not (
                url.scheme == "https" or (url.scheme == "http" and loopback)
            ):
                raise ValueError(
                    f"{ENV_PREFIX}JWT_JWKS_URL must be an https:// URL (http:// only on the "
                    "loopback interface): keys fetched in the clear could be replaced"
                )
{% endif %}


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the environment variable to fix."""
    lines = []
    for problem in error.errors():
        location = problem["loc"]
        message = problem["msg"].removeprefix("Value error, ")
        if location:
            message = f"{ENV_PREFIX}{str(location[0]).upper()}: {message}"
        lines.append(message)
    return "Invalid configuration:\n" + "\n".join(f"  {line}" for line in lines)


def load_settings() -> Settings:
    """Read and validate the settings; ``SettingsError`` names every variable at fault."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return load_settings()


def refuse_to_start(message: str) -> NoReturn:
    """End an entry point over its configuration: status 2 and the message alone (a
    traceback would bury the variables it names)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def get_settings_or_exit() -> Settings:
    """``get_settings()`` for an entry point: an invalid configuration ends the process."""
    try:
        return get_settings()
    except SettingsError as error:
        refuse_to_start(str(error))
{% if values.taskQueue != 'none' %}


def load_worker_settings() -> Settings:
    """The worker's settings. Without a broker nothing would reach it (the API runs tasks in
    its own process then), so it exits with status 2 and one line naming what to set."""
    settings = get_settings_or_exit()
    if settings.task_broker_url is None:
        refuse_to_start(
            f"{ENV_PREFIX}TASK_BROKER_URL is not set: the worker needs the Redis broker the API "
            "sends tasks to (without it, the API runs them in its own process)"
        )
    return settings
{% endif %}
