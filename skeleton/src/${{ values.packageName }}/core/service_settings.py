"""What every feature's settings build on: the variable prefix, the error that names the
variables to fix, and the service's identity and environment. ``core.config`` composes the
features' settings into the one ``Settings`` class."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .. import __version__

ENV_PREFIX = "${{ values.envPrefix }}"

Environment = Literal["local", "test", "development", "staging", "production"]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class SettingsError(RuntimeError):
    """The configuration is invalid; the message names the environment variables to fix."""


class ServiceSettings(BaseModel):
    """The service's name and version, and the environment it runs in."""

    environment: Environment = "local"
    service_name: NonEmptyStr = "${{ values.name }}"
    version: NonEmptyStr = __version__

    @property
    def uses_stand_ins(self) -> bool:
        """True when the service runs its dependencies in process (local work only)."""
        return self.environment == "local"
