"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def umask_022() -> Iterator[None]:
    """The oracle renders under umask 022; so must scaffold, or file modes would differ."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
