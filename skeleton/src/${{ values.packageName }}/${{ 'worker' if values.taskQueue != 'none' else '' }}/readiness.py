"""Whether the worker consumes its queue, for its readinessProbe and startupProbe:
``python -m ${{ values.packageName }}.worker.readiness`` exits 0 while the ready file is fresh.

The worker rewrites the file every few seconds while it is connected to its broker with its
tasks registered, and deletes it when it stops consuming. The probe runs in a new process every
period, so this module imports nothing but the standard library.
"""

import sys
import tempfile
import time
from pathlib import Path

# How often a consuming worker rewrites its ready file.
READY_INTERVAL_SECONDS = 5.0
# Older than this, the file is left over (a killed worker, a stuck event loop): not ready.
MAX_READY_AGE_SECONDS = 3 * READY_INTERVAL_SECONDS


def ready_file() -> Path:
    """In /tmp, the pod's emptyDir (``TMPDIR`` moves it, as the tests do)."""
    return Path(tempfile.gettempdir()) / "worker-ready"


def mark_ready() -> None:
    ready_file().touch()


def mark_not_ready() -> None:
    ready_file().unlink(missing_ok=True)


def is_ready() -> bool:
    try:
        return time.time() - ready_file().stat().st_mtime < MAX_READY_AGE_SECONDS
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(0 if is_ready() else 1)
