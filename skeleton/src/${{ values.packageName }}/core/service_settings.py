"""What every feature's settings build on; apart from ``core.config``, which imports the
features' settings to compose them."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .. import __version__

ENV_PREFIX = "${{ values.envPrefix }}"

Environment = Literal["local", "test", "development", "staging", "production"]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class SettingsError(RuntimeError):
    """The configuration is invalid; the message names the environment variables to fix."""


class ServiceSettings(BaseModel):
    environment: Environment = "local"
    service_name: NonEmptyStr = "${{ values.name }}"
    version: NonEmptyStr = __version__

    @property
    def uses_stand_ins(self) -> bool:
        """Dependencies run in process: local work only."""
        return self.environment == "local"
