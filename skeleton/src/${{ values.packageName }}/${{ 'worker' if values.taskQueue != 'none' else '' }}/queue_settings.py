{% if values.taskQueue == 'celery' %}
"""Settings of the task queue, read by the API (to enqueue) and by the worker (``worker.app``)."""

from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator

from ..core.service_settings import ENV_PREFIX, NonEmptyStr
{% else %}
"""Settings of the task queue, read by the API (to enqueue) and by the worker
(``worker.settings``, arq's ``WorkerSettings``)."""

from pydantic import BaseModel, Field, SecretStr

from ..core.service_settings import NonEmptyStr
{% endif %}


class TaskQueueSettings(BaseModel):
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
    # The worker serves its Prometheus metrics at /metrics on this port (0: any free port).
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
{% if values.taskQueue == 'celery' %}
    # An unacknowledged task is delivered again after this long (a worker died holding it):
    # longer than the time limit plus the longest retry delay, or tasks would run twice.
    task_visibility_timeout_seconds: int = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _check_visibility_timeout(self) -> Self:
        longest_hold = self.task_time_limit_seconds + self.task_retry_backoff_max_seconds
        if self.task_visibility_timeout_seconds <= longest_hold:
            raise ValueError(
                f"{ENV_PREFIX}TASK_VISIBILITY_TIMEOUT_SECONDS must exceed "
                f"{ENV_PREFIX}TASK_TIME_LIMIT_SECONDS + {ENV_PREFIX}TASK_RETRY_BACKOFF_MAX_SECONDS "
                f"({longest_hold}), or tasks still running or waiting to retry are redelivered"
            )
        return self
{% endif %}
