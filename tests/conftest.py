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


# Modules whose tests are independent of each other and share no costly fixture: pytest-xdist
# spreads their tests over its workers one by one. Every other module runs whole on one
# worker (its module- and session-scoped fixtures, renders and images, are built once), except
# tests that name a group of their own.
SPREAD_MODULES = frozenset({"test_generated_services"})
# The longest jobs, longest first: xdist hands out work in collection order
# (`--no-loadscope-reorder`), and starting these first keeps one of them from being the only
# thing left running at the end (two long single tests were once the last 15 minutes of a
# run, when they came last). The generated suites wait on their servers and processes most
# of the time, so they run beside the CPU-bound checks.
LONGEST_FIRST = (
    "test_every_variant_static_checks",
    "test_generated_services",
    "test_docs_template",
    "test_docs_services",
    "test_update",
    "test_generated_image",
    "test_generated_monitoring",
    "test_generated_test_split",
    "test_template_conformance",
)


def _start_order(item: pytest.Item) -> int:
    module = item.path.stem
    return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)


# Before xdist's own hook, which reads the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem not in SPREAD_MODULES and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
    items.sort(key=_start_order)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop at once if xdist could not group the tests: it marks a group by suffixing the
    test's id, which some pytest releases no longer let it do (9.2 with xdist 3.8)."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    ungrouped = [item.nodeid for item in session.items if item.get_closest_marker("xdist_group")]
    ungrouped = [nodeid for nodeid in ungrouped if "@" not in nodeid]
    if ungrouped:
        raise pytest.UsageError(f"pytest-xdist did not group {ungrouped[0]} (and {len(ungrouped) - 1} more)")
