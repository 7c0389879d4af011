"""IAM database authentication: tokens are signed without calling AWS, reused, and signed
again before they expire."""

from typing import Any

import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ${{ values.packageName }}.db.iam import (
    REFRESH_AFTER_SECONDS,
    IamTokenCache,
    attach_iam_auth,
    rds_token_generator,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_is_reused_then_signed_again_before_expiry() -> None:
    signed: list[tuple[str, int, str]] = []

    def generate(host: str, port: int, user: str) -> str:
        signed.append((host, port, user))
        return f"token-{len(signed)}"

    clock = Clock()
    tokens = IamTokenCache(generate, "db.example.com", 5432, "app", clock=clock)

    first = tokens.token()
    clock.now += REFRESH_AFTER_SECONDS - 1
    reused = tokens.token()
    clock.now += 1
    refreshed = tokens.token()

    assert (first, reused, refreshed) == ("token-1", "token-1", "token-2")
    assert signed == [("db.example.com", 5432, "app")] * 2
    assert REFRESH_AFTER_SECONDS < 15 * 60


def test_boto3_signs_tokens_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fake credentials: signing (SigV4 presigning) needs no network.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    token = rds_token_generator()("db.example.com", 5432, "app")

    assert token.startswith("db.example.com:5432/?")
    assert "Action=connect" in token
    assert "DBUser=app" in token
    assert "X-Amz-Expires=900" in token


def test_new_connections_log_in_with_the_token() -> None:
${{ '    url = make_url("postgresql+asyncpg://app:ignored@db.example.com/app")' if values.database == 'aurora-postgresql' else '    url = make_url("mysql+aiomysql://app:ignored@db.example.com/app")' }}
    engine = create_async_engine(url)
    attach_iam_auth(engine, url, generate=lambda host, port, user: f"{user}@{host}:{port}")
    params: dict[str, Any] = {"password": "ignored"}

    for listener in engine.sync_engine.dialect.dispatch.do_connect:
        listener(engine.sync_engine.dialect, None, [], params)

    assert params["password"] == ${{ '"app@db.example.com:5432"' if values.database == 'aurora-postgresql' else '"app@db.example.com:3306"' }}
