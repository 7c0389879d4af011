"""Settings come from prefixed environment variables and are validated."""

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from ${{ values.packageName }}.core.config import Settings


def test_settings_read_prefixed_environment(settings: Settings) -> None:
    assert settings.environment == "test"
    assert settings.log_json is False


@pytest.mark.usefixtures("settings")
def test_settings_reject_unknown_log_level(set_env: Callable[[str, str], None]) -> None:
    set_env("LOG_LEVEL", "LOUD")

    with pytest.raises(ValidationError):
        Settings()
