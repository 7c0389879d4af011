"""Client for oracle/nunjucks.cjs: nunjitsu as fetch:template configures it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oracle import _run_script


def render_nunjucks(cases: Sequence[dict[str, Any]], *, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Render each case ({template, context, trimBlocks, lstripBlocks, value}) with Backstage."""
    document = _run_script("nunjucks.cjs", payload={"cases": list(cases)}, timeout=timeout)
    results: list[dict[str, Any]] = document["results"]
    return results
