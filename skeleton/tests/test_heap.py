"""What startup builds is frozen out of the garbage collector's view while the app runs."""

import gc

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_startup_objects_are_frozen_while_the_app_runs(app: FastAPI) -> None:
    frozen_before = gc.get_freeze_count()

    with TestClient(app):
        assert gc.get_freeze_count() > frozen_before
        # The app was built before startup: full collections no longer walk it.
        assert not any(tracked is app for tracked in gc.get_objects())

    # Back in view on shutdown, so that it can be collected once dropped.
    assert any(tracked is app for tracked in gc.get_objects())
