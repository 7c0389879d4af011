"""Shared fixtures: settings from a controlled environment and a client of the app."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.main import create_app

ENV_PREFIX = "${{ values.envPrefix }}"

SetEnv = Callable[[str, str], None]


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """Set a service environment variable, e.g. ``set_env("LOG_LEVEL", "DEBUG")``, for the
    current test only."""

    def set_prefixed(name: str, value: str) -> None:
        monkeypatch.setenv(f"{ENV_PREFIX}{name}", value)

    return set_prefixed


@pytest.fixture
def settings(set_env: SetEnv) -> Settings:
    """Settings read from the environment, as in a deployment."""
    set_env("ENVIRONMENT", "test")
    set_env("LOG_JSON", "false")
{% if values.auth == 'jwt' %}
    set_env("JWT_JWKS_URL", "https://id.example.com/.well-known/jwks.json")
    set_env("JWT_ISSUER", "https://id.example.com/")
    set_env("JWT_AUDIENCE", "${{ values.name }}")
{% endif %}
    return Settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of the app; entering it runs the startup and shutdown hooks."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client
