"""Run git commands for `scaffold update`, each failure reported in one line."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Variables that would point a command at another repository than the one it is run for
# (a hook or an IDE may set them).
_REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
    }
)


class GitError(Exception):
    """A git command failed; the message is its first line of error output."""


@dataclass(frozen=True)
class Git:
    """git run in `cwd` with `environment` added to a clean copy of ours."""

    cwd: Path
    environment: dict[str, str] = field(default_factory=dict)

    def with_environment(self, **environment: str) -> Git:
        return Git(self.cwd, {**self.environment, **environment})

    def run(self, *arguments: str, stdin: str | None = None, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
        """The exit status (one of `ok`, or GitError) and the standard output."""
        inherited = {key: value for key, value in os.environ.items() if key not in _REPOSITORY_VARIABLES}
        try:
            result = subprocess.run(
                ["git", *arguments],
                cwd=self.cwd,
                env={**inherited, **self.environment},
                input=stdin,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="surrogateescape",
                check=False,
            )
        except FileNotFoundError as error:
            raise GitError("git is not installed") from error
        if result.returncode not in ok:
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
            raise GitError(f"git {arguments[0]}: {lines[0] if lines else f'exit status {result.returncode}'}")
        return result.returncode, result.stdout

    def __call__(self, *arguments: str, stdin: str | None = None) -> str:
        return self.run(*arguments, stdin=stdin)[1]

    def commit(self, ref: str) -> str | None:
        """The commit `ref` names (tag, branch, commit), or None."""
        code, out = self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", ok=(0, 1)
        )
        return out.strip() if code == 0 else None
