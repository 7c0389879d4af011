"""Size of the rendered service's source, for three variants: modules, lines, non-blank lines,
and how many of those are comments or docstrings.

    uv run python benchmarks/source_size.py            # the working tree's skeleton
    uv run python benchmarks/source_size.py --ref REV  # the skeleton as of a git revision

Counts `src/` only (the application), not its tests.
"""

import argparse
import io
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from scaffold.workflow import Template, known_parameters

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {
    "reviewed (PostgreSQL, ORM, Redis, Celery, JWT, Datadog)": {
        "database": "aurora-postgresql",
        "orm": "sqlalchemy",
        "cache": "elasticache-redis",
        "taskQueue": "celery",
        "auth": "jwt",
        "tracing": "datadog",
    },
    "MySQL Core, arq, no auth, no Datadog": {
        "database": "aurora-mysql",
        "orm": "none",
        "cache": "none",
        "taskQueue": "arq",
        "auth": "none",
        "tracing": "none",
    },
    "in memory, nothing else": {
        "database": "none",
        "cache": "none",
        "taskQueue": "none",
        "auth": "none",
        "tracing": "none",
    },
}


@dataclass
class Size:
    modules: int = 0
    lines: int = 0
    non_blank: int = 0
    commentary: int = 0  # lines holding only a comment, or part of a docstring

    def add(self, source: str) -> None:
        self.modules += 1
        lines = source.splitlines()
        self.lines += len(lines)
        self.non_blank += sum(1 for line in lines if line.strip())
        self.commentary += len(_commentary_lines(source))


def _commentary_lines(source: str) -> set[int]:
    """Line numbers that are only a comment, or belong to a docstring (a string statement)."""
    found: set[int] = set()
    previous = tokenize.NEWLINE
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found.add(token.start[0])
        elif token.type == tokenize.STRING and previous in (
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.NL,
        ):
            found.update(range(token.start[0], token.end[0] + 1))
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.update(range(token.start[0], token.end[0] + 1))
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    # A trailing comment on a line of code leaves it a line of code.
    return {line for line in found if line not in code_lines or _is_docstring_line(line, source)}


def _is_docstring_line(line: int, source: str) -> bool:
    stripped = source.splitlines()[line - 1].strip()
    return stripped.startswith(('"""', "'''")) or stripped.endswith(('"""', "'''"))


def in_template_s_terms(template: Path, values: dict[str, str]) -> dict[str, str]:
    """``values`` as ``template`` asks for them: a revision from before the ``tracing``
    choice had a ``datadog`` boolean instead."""
    known = known_parameters(Template.load(template / "template.yaml"))
    if "tracing" in known or "datadog" not in known:
        return values
    translated = {key: value for key, value in values.items() if key != "tracing"}
    translated["datadog"] = "true" if values.get("tracing") == "datadog" else "false"
    return translated


def measure(template: Path, values: dict[str, str], output: Path) -> Size:
    command = [sys.executable, "-m", "scaffold", "render", "--template", str(template / "template.yaml")]
    command += ["--values", str(REPO / "examples" / "values.yaml"), "--output", str(output)]
    for key, value in in_template_s_terms(template, values).items():
        command += ["--set", f"{key}={value}"]
    subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    size = Size()
    for module in sorted((output / "src").rglob("*.py")):
        size.add(module.read_text())
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="measure the template as of this git revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        template = REPO
        if args.ref:
            template = Path(scratch) / "template"
            archive = subprocess.run(
                ["git", "archive", args.ref, "template.yaml", "skeleton"],
                check=True,
                cwd=REPO,
                capture_output=True,
            ).stdout
            template.mkdir()
            subprocess.run(["tar", "-x", "-C", str(template)], input=archive, check=True)
        print(f"{'variant':<58}{'modules':>8}{'lines':>7}{'non-blank':>10}{'comments':>9}{'share':>7}")
        for index, (label, values) in enumerate(VARIANTS.items()):
            size = measure(template, values, Path(scratch) / f"render-{index}")
            share = size.commentary / size.non_blank
            print(
                f"{label:<58}{size.modules:>8}{size.lines:>7}{size.non_blank:>10}"
                f"{size.commentary:>9}{share:>7.0%}"
            )


if __name__ == "__main__":
    main()
