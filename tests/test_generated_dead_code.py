"""No render ships code it does not use: vulture finds nothing in any render's src/ and
tests/, past the framework patterns of vulture_allowlist.py (each with its reason).

Renders the pairwise-covering set of submissions, which holds every value of every option.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scaffold.workflow import Template, run_template
from template_matrix import TEMPLATE_PATH, combination_id, pairwise_submissions
from vulture_allowlist import IGNORED_DECORATORS, IGNORED_NAMES

SUBMISSIONS = pairwise_submissions()


def unused_code(root: Path) -> list[str]:
    """vulture's findings in root's src/ and tests/ (``path:line: unused ...``)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vulture",
            "src",
            "tests",
            "--ignore-decorators",
            ",".join(IGNORED_DECORATORS),
            "--ignore-names",
            ",".join(IGNORED_NAMES),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # 0: nothing found; 3: dead code found; anything else is vulture failing.
    assert result.returncode in (0, 3), result.stdout + result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("values", SUBMISSIONS, ids=[combination_id(values) for values in SUBMISSIONS])
def test_a_render_has_no_unused_code(values: dict[str, Any], tmp_path: Path) -> None:
    run_template(Template.load(TEMPLATE_PATH), values, tmp_path)
    found = unused_code(tmp_path)
    assert not found, f"{len(found)} unused in this render:\n" + "\n".join(found)


def test_the_check_finds_unused_code(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "tests").mkdir()
    source = "def used() -> None: ...\n\n\ndef unused() -> None: ...\n\n\nused()\n"
    (tmp_path / "src" / "module.py").write_text(source, encoding="utf-8")
    assert unused_code(tmp_path) == ["src/module.py:4: unused function 'unused' (60% confidence)"]
