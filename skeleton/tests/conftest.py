"""Shared fixtures: settings from a controlled environment and clients of the app."""

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.config import (
    ENV_PREFIX,
    Settings,
)
from ${{ values.packageName }}.core.tenancy import TENANT_ID_HEADER
from ${{ values.packageName }}.main import create_app

SetEnv = Callable[[str, str], None]
AppFactory = Callable[..., FastAPI]


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No service variable of the shell, and no ``.env`` file, leaks into a test."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """Set a service environment variable, e.g. ``set_env("LOG_LEVEL", "DEBUG")``, for the
    current test only."""

    def set_prefixed(name: str, value: str) -> None:
        monkeypatch.setenv(f"{ENV_PREFIX}{name}", value)

    return set_prefixed


@pytest.fixture
def base_env(set_env: SetEnv) -> SetEnv:
    """The variables every test starts from: local stand-ins, JSON logs."""
    set_env("ENVIRONMENT", "local")
    set_env("LOG_JSON", "true")
{% if values.datadog %}
    set_env("DATADOG_ENABLED", "false")
{% endif %}
{% if values.auth == 'jwt' %}
    set_env("JWT_JWKS_URL", "https://id.example.com/.well-known/jwks.json")
    set_env("JWT_ISSUER", "https://id.example.com/")
    set_env("JWT_AUDIENCE", "${{ values.name }}")
{% endif %}
    return set_env


@pytest.fixture
def settings(base_env: SetEnv) -> Settings:
    """Settings read from the environment, as in a deployment."""
    return Settings()


@pytest.fixture
def make_settings(base_env: SetEnv) -> Callable[..., Settings]:
    """Settings from the environment with some fields replaced."""

    def build(**overrides: Any) -> Settings:
        return Settings().model_copy(update=overrides)

    return build


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


TENANT_ID = "tenant-a"


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the app acting for ``TENANT_ID``; entering it runs the lifespan (startup
    and shutdown)."""
    with TestClient(
        app, raise_server_exceptions=False, headers={TENANT_ID_HEADER: TENANT_ID}
    ) as test_client:
        yield test_client


@pytest.fixture
def read_logs(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """Call it to get the JSON log lines written to standard output since the last call."""

    def read() -> list[dict[str, Any]]:
        output = capsys.readouterr().out
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    return read
