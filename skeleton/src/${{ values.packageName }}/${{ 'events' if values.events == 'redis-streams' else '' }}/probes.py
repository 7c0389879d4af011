"""The event consumer's probes, files it keeps fresh while it works:
``python -m ${{ values.packageName }}.events.probes ready`` (readinessProbe, startupProbe) exits 0
while the consumer reads its group without errors; ``... live`` (livenessProbe) while its
event loop runs. The probe runs in a new process every period, so this module imports nothing
but the standard library.
"""

import sys
import tempfile
import time
from pathlib import Path

# How often a working consumer rewrites its files.
TOUCH_INTERVAL_SECONDS = 5.0
# Older than this, the consumer stopped reading (Redis unreachable, stopping): not ready.
MAX_READY_AGE_SECONDS = 3 * TOUCH_INTERVAL_SECONDS
# Older than this, its event loop is stuck: restart it. Several missed beats, not one.
MAX_ALIVE_AGE_SECONDS = 12 * TOUCH_INTERVAL_SECONDS


def probe_file(kind: str) -> Path:
    """In /tmp, the pod's emptyDir (``TMPDIR`` moves it, as the tests do)."""
    return Path(tempfile.gettempdir()) / f"events-consumer-{kind}"


def touch(kind: str) -> None:
    probe_file(kind).touch()


def remove(kind: str) -> None:
    probe_file(kind).unlink(missing_ok=True)


def is_fresh(kind: str) -> bool:
    max_age = MAX_READY_AGE_SECONDS if kind == "ready" else MAX_ALIVE_AGE_SECONDS
    try:
        return time.time() - probe_file(kind).stat().st_mtime < max_age
    except FileNotFoundError:
        return False


def main(argv: list[str]) -> int:
    if argv not in (["ready"], ["live"]):
        print("usage: python -m ${{ values.packageName }}.events.probes ready|live", file=sys.stderr)
        return 2
    return 0 if is_fresh(argv[0]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
