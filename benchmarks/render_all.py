"""Render every parameter combination of template.yaml and print how long it takes.

Runs the whole template (parameter validation, step input rendering, fetch:template) with
scaffold for every combination, then the same fetch:template renders with Backstage's own
action in one Node process, side by side in the same run so that the ratio means something
on a noisy machine. Usage: uv run python benchmarks/render_all.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from oracle import fetch_template_batch
from scaffold.workflow import Template, run_template
from template_matrix import TEMPLATE_PATH, all_combinations, backstage_job

TARGET_SECONDS = 10.0


def main() -> int:
    template = Template.load(TEMPLATE_PATH)
    submissions = list(all_combinations(template))
    root = Path(tempfile.mkdtemp(prefix="render-bench-"))
    try:
        started = time.perf_counter()
        jobs = []
        for index, values in enumerate(submissions):
            workspace = root / "python" / str(index)
            workspace.mkdir(parents=True)
            result = run_template(template, values, workspace)
            step_input = next(step.input for step in result.steps if step.action == "fetch:template")
            jobs.append(backstage_job(str(index), step_input, root / "node" / str(index)))
        python_seconds = time.perf_counter() - started

        started = time.perf_counter()
        failures = [result for result in fetch_template_batch(jobs) if not result.ok]
        node_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(root)
    count = len(submissions)
    print(f"combinations:                     {count}")
    for label, seconds in (
        ("scaffold (whole template)", python_seconds),
        ("Backstage fetch:template", node_seconds),
    ):
        print(f"{label + ':':34}{seconds:.2f} s  ({1000 * seconds / count:.1f} ms each)")
    print(f"ratio scaffold / Backstage:       {python_seconds / node_seconds:.2f}")
    verdict = "met" if python_seconds < TARGET_SECONDS else "MISSED"
    print(f"target: all combinations under {TARGET_SECONDS:.0f} s -> {verdict}")
    if failures:
        print(f"Backstage failed on {len(failures)} combinations: {failures[0].error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
