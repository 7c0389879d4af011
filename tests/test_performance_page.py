"""The performance page (docs/performance.md) holds only measured numbers: it is exactly what
benchmarks/report.py renders from the committed results, and its plot is there. The README
describes every benchmark the report runs."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import report  # noqa: E402


def test_page_is_rendered_from_the_committed_results() -> None:
    results = json.loads(report.RESULTS.read_text(encoding="utf-8"))
    assert report.PAGE.read_text(encoding="utf-8") == report.render_page(results), (
        "docs/performance.md differs from the committed results: "
        "uv run python benchmarks/report.py --page-only"
    )


def test_page_names_every_target_and_the_machine() -> None:
    results = json.loads(report.RESULTS.read_text(encoding="utf-8"))
    page = report.PAGE.read_text(encoding="utf-8")
    verdicts = report.all_verdicts(results)
    assert verdicts
    for benchmark, what, _, _, _ in verdicts:
        assert f"| {benchmark} | {what} |" in page
    assert results["machine"]["cpu"] in page
    assert results["commit"] in page


def test_plot_is_a_png() -> None:
    assert report.PLOT.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "(images/performance.png)" in report.PAGE.read_text(encoding="utf-8")


def test_the_readme_describes_every_benchmark_the_report_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    described = re.findall(r"^- `uv run python benchmarks/(\w+)\.py", readme, flags=re.MULTILINE)
    counts = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

    assert set(report.BENCHMARKS) <= set(described)
    assert f"runs the {counts[len(report.BENCHMARKS) - 1]} service" in " ".join(readme.split())


def _numbers(text: str) -> set[float]:
    """The numbers written in ``text``, without those of names such as p99 or -c32."""
    return {float(number) for number in re.findall(r"(?<![\w.-])\d+(?:\.\d+)?", text)}


def test_the_readme_states_each_benchmark_s_targets_as_the_code_judges_them() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    verdicts = report.all_verdicts(json.loads(report.RESULTS.read_text(encoding="utf-8")))
    for name in report.BENCHMARKS:
        bullet = re.search(
            rf"^- `uv run python benchmarks/{name}\.py.*?(?=^- |^$)", readme, flags=re.MULTILINE | re.DOTALL
        )
        assert bullet, f"the README does not describe {name}"
        # From the first "target" to the requirements ("Needs ...").
        stated = re.search(r"\btargets?\b(.*?)(?:Needs\b|$)", bullet[0], flags=re.IGNORECASE | re.DOTALL)
        assert stated, f"the README states no target for {name}"
        judged = [(what, target) for benchmark, what, _, target, _ in verdicts if benchmark == name]
        targets = {float(target.split()[-1]) for _, target in judged}
        if "<= 1" in {target for _, target in judged}:
            # A p99 ratio of at most 1 reads "at or below" the other's.
            assert "at or below" in stated[1], name
            targets.discard(1.0)
        written = _numbers(stated[1])
        assert targets <= written, f"{name}: the code judges {sorted(targets - written)}, unstated"
        # Connection counts belong to what is judged ("-c5 ...").
        named = targets | {float(count) for what, _ in judged for count in re.findall(r"-c(\d+)", what)}
        assert written <= named, f"{name}: the README states {sorted(written - named)}, not judged"
