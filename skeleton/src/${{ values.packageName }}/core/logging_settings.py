"""Settings of the service's logs (``core.logging``)."""

from typing import Literal

from .service_settings import ServiceSettings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingSettings(ServiceSettings):
    # The service's own loggers; every other library's log at log_level_third_party.
    log_level: LogLevel = "INFO"
    log_level_third_party: LogLevel = "WARNING"
    # None: readable lines when environment is local, JSON lines elsewhere.
    log_json: bool | None = None

    @property
    def logs_json(self) -> bool:
        """True when log lines are JSON objects (log_json, else all but local runs)."""
        return self.log_json if self.log_json is not None else self.environment != "local"
