"""Settings come from prefixed environment variables (or ``.env``) and are validated;
invalid or missing settings stop start-up with a message naming the variable."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
{% if values.serverTests %}
from pydantic import SecretStr
{% endif %}

from ${{ values.packageName }}.core.config import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    load_settings,
)
from ${{ values.packageName }}.main import create_app

SetEnv = Callable[[str, str], None]
SERVICE_NAME = "${{ values.name }}"

{% if values.serverTests %}
DEPENDENCY_URLS = [
{% if values.sqlDatabase %}
    "database_url",
{% endif %}
{% if values.cache != 'none' %}
    "redis_url",
{% endif %}
{% if values.taskQueue != 'none' %}
    "task_broker_url",
{% endif %}
{% if values.events == 'redis-streams' %}
    "events_redis_url",
{% endif %}
]
{% else %}
DEPENDENCY_URLS: list[str] = []
{% endif %}


def test_settings_read_prefixed_environment(base_env: SetEnv) -> None:
    base_env("LOG_LEVEL", "DEBUG")
    base_env("CORS_ALLOW_ORIGINS", '["https://app.example.com"]')

    settings = load_settings()

    assert settings.log_level == "DEBUG"
    assert settings.environment == "local"
    assert settings.cors_allow_origins == ["https://app.example.com"]


def test_defaults(settings: Settings) -> None:
    assert settings.service_name == SERVICE_NAME
    assert settings.log_json is True
    assert settings.http_max_body_bytes == 1024 * 1024
    assert settings.request_timeout_seconds == 30
    assert settings.cors_allow_origins == []
    assert settings.hsts_max_age_seconds == 0


def test_settings_read_dotenv_file(
    base_env: SetEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(f"{ENV_PREFIX}SERVICE_NAME=from-dotenv\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert load_settings().service_name == "from-dotenv"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("ENVIRONMENT", "moon"),
        ("HTTP_MAX_BODY_BYTES", "0"),
        ("REQUEST_TIMEOUT_SECONDS", "soon"),
        ("HTTP_CLIENT_RETRIES", "-1"),
    ],
)
def test_invalid_setting_names_the_variable(base_env: SetEnv, name: str, value: str) -> None:
    base_env(name, value)

    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}"):
        load_settings()


def test_create_app_refuses_invalid_environment(base_env: SetEnv) -> None:
    base_env("LOG_LEVEL", "LOUD")

    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}LOG_LEVEL"):
        create_app(load_settings())


def test_uvicorn_start_up_with_an_invalid_setting_prints_only_the_message(
    tmp_path: Path,
) -> None:
    # As `make run` starts it; in an empty directory, so no .env is read.
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    env[f"{ENV_PREFIX}LOG_LEVEL"] = "LOUD"
    command = [sys.executable, "-m", "uvicorn", "--factory", "${{ values.packageName }}.main:create_app"]

    result = subprocess.run(
        [*command, "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Invalid configuration:\n")
    assert f"{ENV_PREFIX}LOG_LEVEL: Input should be" in result.stderr
    assert "Traceback" not in result.stderr


def test_wildcard_cors_with_credentials_is_refused(base_env: SetEnv) -> None:
    base_env("CORS_ALLOW_ORIGINS", '["*"]')
    base_env("CORS_ALLOW_CREDENTIALS", "true")

    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}CORS_ALLOW_ORIGINS"):
        load_settings()


@pytest.mark.parametrize("environment", ["test", "development", "staging", "production"])
def test_dependency_urls_are_required_outside_local(base_env: SetEnv, environment: str) -> None:
    base_env("ENVIRONMENT", environment)

    if not DEPENDENCY_URLS:
        assert load_settings().environment == environment
        return
    with pytest.raises(SettingsError) as raised:
        load_settings()
    for name in DEPENDENCY_URLS:
        assert f"{ENV_PREFIX}{name.upper()}" in str(raised.value)


def test_local_environment_runs_without_urls(settings: Settings) -> None:
    assert settings.uses_stand_ins
    assert settings.missing_dependency_settings() == DEPENDENCY_URLS
{% if values.serverTests %}


def test_urls_are_secrets(base_env: SetEnv) -> None:
    base_env("ENVIRONMENT", "production")
    for name in DEPENDENCY_URLS:
        base_env(name.upper(), "tcp://user:hunter2@host:6379/0")

    settings = load_settings()

    for name in DEPENDENCY_URLS:
        value = getattr(settings, name)
        assert isinstance(value, SecretStr)
        assert value.get_secret_value().endswith("@host:6379/0")
    assert "hunter2" not in repr(settings)
{% endif %}
{% if values.auth == 'jwt' %}


@pytest.mark.parametrize("name", ["JWT_ISSUER", "JWT_AUDIENCE"])
def test_jwt_settings_are_required(
    base_env: SetEnv, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(f"{ENV_PREFIX}{name}")

    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}"):
        load_settings()
{% endif %}
