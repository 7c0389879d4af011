"""While the app runs, what startup built is frozen out of the garbage collector's view and
the young generation waits for more allocations; both are undone on shutdown."""

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


def test_young_collections_are_rarer_while_the_app_runs(app: FastAPI) -> None:
    thresholds_before = gc.get_threshold()

    with TestClient(app):
        young, *older = gc.get_threshold()
        assert young > thresholds_before[0]
        assert older == list(thresholds_before[1:])
        # Objects of requests in flight no longer set off a young collection every few
        # requests: as many tracked objects as the default threshold allows, and more, are
        # made without one.
        gc.collect(0)  # counting from an empty young generation
        collections_before = gc.get_stats()[0]["collections"]
        alive: list[list[object]] = [[] for _ in range(2 * thresholds_before[0])]
        assert gc.get_stats()[0]["collections"] == collections_before
        del alive

    assert gc.get_threshold() == thresholds_before
