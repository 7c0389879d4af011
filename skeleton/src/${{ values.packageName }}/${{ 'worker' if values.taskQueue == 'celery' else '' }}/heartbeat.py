"""Files the worker touches every few seconds, read by its probes. The heartbeat file is the
liveness probe's, ``python -m ${{ values.packageName }}.worker.heartbeat``, which fails when it
is stale: unlike ``celery inspect ping``, it catches a stuck worker and costs no broker round
trip. The ready file (``worker.readiness``) is kept only while the worker consumes its queue."""

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import bootsteps

from .readiness import READY_INTERVAL_SECONDS, mark_not_ready, mark_ready

HEARTBEAT_FILE = Path(tempfile.gettempdir()) / "celery-worker-heartbeat"
HEARTBEAT_INTERVAL_SECONDS = 10.0
# Several missed beats, not one: a busy node can delay the timer.
MAX_HEARTBEAT_AGE_SECONDS = 60.0


def touch() -> None:
    HEARTBEAT_FILE.touch()


def heartbeat_age_seconds() -> float:
    return time.time() - HEARTBEAT_FILE.stat().st_mtime


class FileKeeper(bootsteps.StartStopStep):
    """Keeps its file fresh from the worker's timer while started; removes it when stopped."""

    interval: float

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._entry: Any = None

    def keep(self) -> None:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    def start(self, parent: Any) -> None:
        self.keep()
        self._entry = parent.timer.call_repeatedly(self.interval, self.keep)

    def stop(self, parent: Any) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None
        self.remove()


class Heartbeat(FileKeeper):
    requires = ("celery.worker.components:Timer",)
    interval = HEARTBEAT_INTERVAL_SECONDS

    def keep(self) -> None:
        touch()

    def remove(self) -> None:
        HEARTBEAT_FILE.unlink(missing_ok=True)


class Readiness(FileKeeper):
    """A step of the consumer, after the one that starts consuming the task queue: started
    once the worker is connected with its tasks registered, stopped when the connection is
    lost (the consumer restarts its steps to reconnect) and when the worker shuts down."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    interval = READY_INTERVAL_SECONDS

    def keep(self) -> None:
        mark_ready()

    def remove(self) -> None:
        mark_not_ready()

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)


def main() -> int:
    try:
        fresh = heartbeat_age_seconds() < MAX_HEARTBEAT_AGE_SECONDS
    except FileNotFoundError:
        fresh = False
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
