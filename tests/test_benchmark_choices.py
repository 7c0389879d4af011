"""Every template choice a benchmark renders with is one the template accepts today. The
benchmarks run only on demand (benchmarks/report.py, about 20 minutes), so a renamed
parameter would otherwise break them unseen: the `datadog` boolean became `tracing` and four
benchmarks kept rendering with `datadog` until their next run failed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scaffold.workflow import Template, known_parameters, resolve_parameters
from template_matrix import BASE_VALUES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import source_size  # noqa: E402

BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))
TEMPLATE = Template.load(ROOT / "template.yaml")
# A dict literal with one of these keys is a set of choices (the form's own fields, such as
# name, also appear in request bodies).
CHOICE_KEYS = {"database", "orm", "cache", "taskQueue", "events", "tracing", "auth", "datadog"}


def _choice_sets(source: str) -> list[tuple[int, dict[str, Any]]]:
    """The literal choices of a benchmark: the constant keywords of each
    ``render_and_install`` call, and each dict literal of constants keyed by a choice."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "render_and_install":
            keywords = {word.arg: word.value for word in node.keywords if word.arg is not None}
            # A value computed at run time is named, not checked (...).
            found.append(
                (node.lineno, {name: getattr(value, "value", ...) for name, value in keywords.items()})
            )
        elif isinstance(node, ast.Dict):
            keys = [
                key.value for key in node.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)
            ]
            if (
                len(keys) == len(node.keys)
                and CHOICE_KEYS & set(keys)
                and all(isinstance(value, ast.Constant) for value in node.values)
            ):
                values = [getattr(value, "value", ...) for value in node.values]
                found.append((node.lineno, dict(zip(keys, values, strict=True))))
    return found


def test_the_benchmarks_render_with_choices() -> None:
    assert sum(len(_choice_sets(path.read_text(encoding="utf-8"))) for path in BENCHMARKS) >= 6


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda path: path.name)
def test_a_benchmark_s_choices_are_the_template_s(benchmark: Path) -> None:
    known = known_parameters(TEMPLATE)
    for line, choices in _choice_sets(benchmark.read_text(encoding="utf-8")):
        unknown = sorted(set(choices) - set(known))
        assert not unknown, f"{benchmark.name}:{line} renders with {unknown}, not a parameter"
        resolve_parameters(
            TEMPLATE, {**BASE_VALUES, **{name: value for name, value in choices.items() if value is not ...}}
        )


def test_source_size_renders_a_revision_from_before_the_tracing_choice(tmp_path: Path) -> None:
    """`source_size.py --ref REV` measures an older template with today's choices; before
    `tracing` (commit 70dc4c1) the template took a `datadog` boolean."""
    before = subprocess.run(
        ["git", "show", "70dc4c1~1:template.yaml"], cwd=ROOT, check=True, capture_output=True
    )
    old = tmp_path / "template.yaml"
    old.write_bytes(before.stdout)
    known = known_parameters(Template.load(old))
    for values in source_size.VARIANTS.values():
        translated = source_size.in_template_s_terms(tmp_path, values)
        assert set(translated) <= set(known)
        assert translated["datadog"] == ("true" if values["tracing"] == "datadog" else "false")
        assert source_size.in_template_s_terms(ROOT, values) == values
