"""IAM database authentication: each new connection presents a token signed with the pod's
AWS credentials instead of a password. boto3 is the optional ``iam`` extra: most services
use a password and should not carry the AWS SDK."""

import os
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from ..core.config import ENV_PREFIX, SettingsError

# Tokens expire after 15 minutes; a new one is signed well before, so the token a connection
# presents is always valid. (Open connections stay open after expiry.)
REFRESH_AFTER_SECONDS = 10 * 60
{% if values.database == 'aurora-postgresql' %}
DEFAULT_PORT = 5432
{% else %}
DEFAULT_PORT = 3306
{% endif %}

TokenGenerator = Callable[[str, int, str], str]
"""Signs a token for (host, port, user)."""


class IamTokenCache:
    """The current token of one user at one endpoint, signed again once it is old."""

    def __init__(
        self,
        generate: TokenGenerator,
        host: str,
        port: int,
        user: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._generate = generate
        self._endpoint = (host, port, user)
        self._clock = clock
        self._token: str | None = None
        self._signed_at = 0.0

    def token(self) -> str:
        now = self._clock()
        if self._token is None or now - self._signed_at >= REFRESH_AFTER_SECONDS:
            self._token = self._generate(*self._endpoint)
            self._signed_at = now
        return self._token


def rds_token_generator() -> TokenGenerator:
    """Sign tokens with boto3. Signing is local (SigV4), but resolving the credentials may
    call AWS STS, which blocks briefly about once an hour."""
    try:
        import boto3
        from botocore.exceptions import NoRegionError
    except ImportError:
        raise SettingsError(
            f"{ENV_PREFIX}DATABASE_IAM_AUTH needs boto3: install the service with its `iam` "
            "extra (uv sync --extra iam)"
        ) from None
    try:
        # botocore itself reads only AWS_DEFAULT_REGION; EKS sets AWS_REGION too.
        client = boto3.client("rds", region_name=os.environ.get("AWS_REGION"))
    except NoRegionError:
        raise SettingsError(
            f"{ENV_PREFIX}DATABASE_IAM_AUTH needs the AWS region: set AWS_REGION"
        ) from None

    def generate(host: str, port: int, user: str) -> str:
        return client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user)

    return generate


def attach_iam_auth(
    engine: AsyncEngine, url: URL, generate: TokenGenerator | None = None
) -> IamTokenCache:
    """Make every new connection of ``engine`` log in with a current token; ``url`` names the
    endpoint and the database user (its password, if any, is ignored)."""
    if url.host is None or url.username is None:
        raise SettingsError(
            f"{ENV_PREFIX}DATABASE_IAM_AUTH needs a host and a user in the database URL"
        )
    port = url.port or DEFAULT_PORT
    tokens = IamTokenCache(generate or rds_token_generator(), url.host, port, url.username)

    @event.listens_for(engine.sync_engine, "do_connect")
    def use_token(
        _dialect: Dialect, _record: ConnectionPoolEntry, _args: Any, params: dict[str, Any]
    ) -> None:
        params["password"] = tokens.token()

    return tokens
