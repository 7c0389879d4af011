"""A file the worker touches every few seconds; the liveness probe,
``python -m ${{ values.packageName }}.worker.heartbeat``, fails when it is stale. Unlike
``celery inspect ping``, it catches a stuck worker and costs no broker round trip."""

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import bootsteps

HEARTBEAT_FILE = Path(tempfile.gettempdir()) / "celery-worker-heartbeat"
HEARTBEAT_INTERVAL_SECONDS = 10.0
# Several missed beats, not one: a busy node can delay the timer.
MAX_HEARTBEAT_AGE_SECONDS = 60.0


def touch() -> None:
    HEARTBEAT_FILE.touch()


def heartbeat_age_seconds() -> float:
    return time.time() - HEARTBEAT_FILE.stat().st_mtime


class Heartbeat(bootsteps.StartStopStep):
    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._entry: Any = None

    def start(self, parent: Any) -> None:
        touch()
        self._entry = parent.timer.call_repeatedly(HEARTBEAT_INTERVAL_SECONDS, touch)

    def stop(self, parent: Any) -> None:
        if self._entry is not None:
            self._entry.cancel()
        HEARTBEAT_FILE.unlink(missing_ok=True)


def main() -> int:
    try:
        fresh = heartbeat_age_seconds() < MAX_HEARTBEAT_AGE_SECONDS
    except FileNotFoundError:
        fresh = False
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
