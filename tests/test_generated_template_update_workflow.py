"""The generated template-update workflow's script, run as its two steps run on GitHub.

Real git repositories stand in for GitHub: the template (a repository with release tags),
the service (a render's .template-answers.json, committed) and its remote. `uvx` and `gh`
are stand-ins on PATH that record their arguments: `uvx` plays `scaffold update` (it edits a
file, leaves conflict markers or refuses the input, as the exit codes of the contract say),
and `gh` answers `pr list` and records `pr create`. The workflow's hardening (pins,
permissions, linters) is checked in test_generated_delivery.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from template_matrix import SKELETON_PATH

WORKFLOWS = SKELETON_PATH / ".github" / "workflows"
SCRIPT = WORKFLOWS / "template-update.sh"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}

# `scaffold update` as the contract has it. UVX_MODE picks the outcome: "clean" changes
# README.md (exit 0), "conflict" leaves markers in two files (exit 1), "unmerged" leaves
# README.md unmerged in the index without markers, as a file the service deleted and the
# template changed is left (exit 1), "refuse" writes nothing (exit 2), "noop" changes
# nothing (exit 0).
UVX_STUB = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$STUB_LOG/uvx.args"
echo "scaffold update: stand-in, mode $UVX_MODE"
case "$UVX_MODE" in
  clean) echo "An added paragraph." >> README.md ;;
  conflict)
    printf '<<<<<<< service\\nours\\n=======\\ntheirs\\n>>>>>>> template v0.10.0\\n' > Makefile
    mkdir -p docs && printf 'text\\n<<<<<<< service\\na\\n=======\\nb\\n>>>>>>> template\\n' > docs/index.md
    echo "conflicts: Makefile docs/index.md"
    exit 1 ;;
  unmerged)
    echo "changed by the template" > README.md
    blob=$(git hash-object -w README.md)
    printf '0 %040d\tREADME.md\n100644 %s 1\tREADME.md\n100644 %s 3\tREADME.md\n' 0 "$blob" "$blob" \
      | git update-index --index-info
    exit 1 ;;
  refuse) echo "unknown parameter 'colour'"; exit 2 ;;
  noop) ;;
esac
"""
GH_STUB = """#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG/gh.calls"
if [ "$1 $2" = "pr list" ]; then echo "$GH_OPEN_PR"; exit 0; fi
if [ "$1 $2" = "pr create" ]; then
  while [ "$#" -gt 0 ]; do
    if [ "$1" = --body-file ]; then cp "$2" "$STUB_LOG/body.md"; fi
    if [ "$1" = --draft ] && [ -n "$GH_NO_DRAFTS" ]; then echo "drafts are not supported"; exit 1; fi
    shift
  done
fi
"""


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    return result.stdout.strip()


@dataclass
class Run:
    returncode: int
    stdout: str
    outputs: dict[str, str]


@dataclass
class Sandbox:
    root: Path
    service: Path
    remote: Path
    logs: Path

    def run(self, step: str, **env: str) -> Run:
        output_file = self.root / "github_output"
        output_file.write_text("", encoding="utf-8")
        environment = {
            **os.environ,
            **GIT_IDENTITY,
            "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "RUNNER_TEMP": str(self.root / "runner_temp"),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_REPOSITORY": "acme/orders-api",
            "GITHUB_RUN_ID": "4242",
            "STUB_LOG": str(self.logs),
            "UVX_MODE": "clean",
            "GH_OPEN_PR": "",
            "GH_NO_DRAFTS": "",
            **env,
        }
        result = subprocess.run(
            ["bash", str(SCRIPT), step],
            cwd=self.service,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        lines = output_file.read_text(encoding="utf-8").splitlines()
        outputs = dict(line.split("=", 1) for line in lines)
        return Run(result.returncode, result.stdout + result.stderr, outputs)

    def update_then_publish(self, **env: str) -> tuple[Run, Run | None]:
        update = self.run("update", **env)
        if update.returncode != 0 or not update.outputs.get("branch"):
            return update, None
        publish = self.run(
            "publish",
            UPDATE_BRANCH=update.outputs["branch"],
            UPDATE_TARGET=update.outputs["target"],
            UPDATE_CONFLICTS=update.outputs["conflicts"],
            BASE="main",
            **env,
        )
        return update, publish

    def uvx_args(self) -> list[str]:
        return (self.logs / "uvx.args").read_text(encoding="utf-8").splitlines()

    def gh_calls(self) -> list[str]:
        path = self.logs / "gh.calls"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def remote_branches(self) -> list[str]:
        return _git(self.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").splitlines()


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    template = tmp_path / "template"
    template.mkdir()
    _git(template, "init", "--quiet", "--initial-branch=main")
    # v0.10.0 sorts after v0.9.0 only in version order; v2.0.0-rc.1 is no release.
    for tag in ("v0.1.0", "v0.9.0", "v0.10.0", "v2.0.0-rc.1"):
        _git(template, "commit", "--quiet", "--allow-empty", "--message", tag)
        _git(template, "tag", tag)
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    service = tmp_path / "service"
    service.mkdir()
    _git(service, "init", "--quiet", "--initial-branch=main")
    answers = {"template": template.as_uri(), "version": "0.1.0", "parameters": {"name": "orders-api"}}
    (service / ".template-answers.json").write_text(json.dumps(answers, indent=2) + "\n", encoding="utf-8")
    (service / "README.md").write_text("# orders-api\n", encoding="utf-8")
    (service / "Makefile").write_text("ours\n", encoding="utf-8")
    _git(service, "add", "--all")
    _git(service, "commit", "--quiet", "--message", "Rendered")
    _git(service, "remote", "add", "origin", str(remote))
    _git(service, "push", "--quiet", "origin", "main")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("uvx", UVX_STUB), ("gh", GH_STUB)):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "runner_temp").mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    return Sandbox(tmp_path, service, remote, logs)


def test_the_workflow_runs_the_script_s_two_steps_with_inputs_from_the_environment() -> None:
    workflow = yaml.safe_load((WORKFLOWS / "template-update.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["update"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == [f"bash .github/workflows/template-update.sh {step}" for step in ("update", "publish")]
    assert steps[2]["env"]["REF_INPUT"] == "${{ inputs.ref }}"
    assert steps[2]["env"]["SET_INPUT"] == "${{ inputs.set }}"
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"ref", "set"}
    # What docs/updating.md tells the service's owners.
    assert triggers["schedule"] == [{"cron": "23 5 * * 1"}]
    page = (SKELETON_PATH / "docs" / "updating.md").read_text(encoding="utf-8")
    assert "every Monday at 05:23 UTC" in " ".join(page.split())
    assert f"**Actions > {workflow['name']} > Run workflow**" in " ".join(page.split())


def test_a_scheduled_run_updates_to_the_latest_release_and_opens_a_pull_request(sandbox: Sandbox) -> None:
    update, publish = sandbox.update_then_publish()
    assert update.returncode == 0, update.stdout
    assert update.outputs == {"branch": "template-update/v0.10.0", "target": "v0.10.0", "conflicts": "false"}
    template_url = (sandbox.root / "template").as_uri()
    assert sandbox.uvx_args() == [
        "--from",
        f"git+{template_url}@v0.10.0",
        "scaffold",
        "update",
        "--to",
        "v0.10.0",
    ]
    assert publish is not None
    assert publish.returncode == 0, publish.stdout
    assert sandbox.remote_branches() == ["main", "template-update/v0.10.0"]
    pushed = _git(sandbox.remote, "show", "template-update/v0.10.0:README.md")
    assert pushed == "# orders-api\nAn added paragraph."
    subject = _git(sandbox.remote, "log", "-1", "--format=%s", "template-update/v0.10.0")
    assert subject == "Update to template v0.10.0"
    (create,) = [call for call in sandbox.gh_calls() if call.startswith("pr create")]
    assert "--title Update to template v0.10.0 --body-file" in create
    assert "--base main --head template-update/v0.10.0" in create
    assert "--draft" not in create
    body = (sandbox.logs / "body.md").read_text(encoding="utf-8")
    assert "from template version `v0.1.0` to `v0.10.0`" in body
    assert "scaffold update: stand-in, mode clean" in body
    assert "Conflicts" not in body


def test_conflicts_are_committed_listed_and_the_pull_request_is_a_draft(sandbox: Sandbox) -> None:
    update, publish = sandbox.update_then_publish(UVX_MODE="conflict")
    assert update.returncode == 0, update.stdout
    assert update.outputs["conflicts"] == "true"
    assert publish is not None
    assert publish.returncode == 0, publish.stdout
    assert "<<<<<<< service" in _git(sandbox.remote, "show", "template-update/v0.10.0:Makefile")
    (create,) = [call for call in sandbox.gh_calls() if call.startswith("pr create")]
    assert "--title Update to template v0.10.0 (conflicts to resolve)" in create
    assert create.endswith("--draft")
    body = (sandbox.logs / "body.md").read_text(encoding="utf-8")
    assert "**Conflicts to resolve.**" in body
    assert "- `Makefile`\n- `docs/index.md`\n" in body


def test_files_git_left_unmerged_are_listed_as_conflicts(sandbox: Sandbox) -> None:
    update, _ = sandbox.update_then_publish(UVX_MODE="unmerged")
    assert update.returncode == 0, update.stdout
    assert update.outputs["conflicts"] == "true"
    body = (sandbox.logs / "body.md").read_text(encoding="utf-8")
    assert "this branch, then mark the pull request ready for review:\n\n- `README.md`\n\n" in body


def test_without_draft_pull_requests_it_opens_a_normal_one(sandbox: Sandbox) -> None:
    _, publish = sandbox.update_then_publish(UVX_MODE="conflict", GH_NO_DRAFTS="1")
    assert publish is not None
    assert publish.returncode == 0, publish.stdout
    creates = [call for call in sandbox.gh_calls() if call.startswith("pr create")]
    assert len(creates) == 2
    assert creates[0].endswith("--draft")
    assert not creates[1].endswith("--draft")


def test_a_manual_run_passes_the_ref_and_each_changed_answer(sandbox: Sandbox) -> None:
    update, _ = sandbox.update_then_publish(REF_INPUT="v0.9.0", SET_INPUT="lifecycle=production  auth=jwt")
    assert update.returncode == 0, update.stdout
    assert update.outputs["branch"] == "template-update/v0.9.0-run4242"
    assert sandbox.uvx_args()[-6:] == ["--to", "v0.9.0", "--set", "lifecycle=production", "--set", "auth=jwt"]


def test_changed_answers_run_even_on_the_current_version(sandbox: Sandbox) -> None:
    update, _ = sandbox.update_then_publish(REF_INPUT="v0.1.0", SET_INPUT="lifecycle=production")
    assert update.returncode == 0, update.stdout
    assert update.outputs["branch"] == "template-update/v0.1.0-run4242"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REF_INPUT": "v0.1.0"}, "already on template v0.1.0"),
        ({"GH_OPEN_PR": "17"}, "a pull request from template-update/v0.10.0 is open"),
        ({"UVX_MODE": "noop"}, "template v0.10.0 changes nothing in this service"),
    ],
)
def test_nothing_to_propose_ends_without_a_branch(
    sandbox: Sandbox, env: dict[str, str], message: str
) -> None:
    update, publish = sandbox.update_then_publish(**env)
    assert update.returncode == 0, update.stdout
    assert message in update.stdout
    assert publish is None
    assert sandbox.remote_branches() == ["main"]
    assert not [call for call in sandbox.gh_calls() if call.startswith("pr create")]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UVX_MODE": "refuse"}, "scaffold update exited with 2"),
        ({"REF_INPUT": "v1..2"}, "ref 'v1..2' is not a valid git ref name"),
    ],
)
def test_a_failed_update_fails_the_step_and_publishes_nothing(
    sandbox: Sandbox, env: dict[str, str], message: str
) -> None:
    update, publish = sandbox.update_then_publish(**env)
    assert update.returncode == 1
    assert f"::error title=Template update::{message}" in update.stdout
    assert publish is None
    assert sandbox.remote_branches() == ["main"]


def test_a_template_without_releases_is_reported(sandbox: Sandbox) -> None:
    template = sandbox.root / "template"
    for tag in _git(template, "tag").splitlines():
        _git(template, "tag", "--delete", tag)
    update = sandbox.run("update")
    assert update.returncode == 1
    assert "has no release tag (v<major>.<minor>.<patch>)" in update.stdout


def test_a_repository_without_answers_is_not_a_generated_service(sandbox: Sandbox) -> None:
    _git(sandbox.service, "rm", "--quiet", ".template-answers.json")
    update = sandbox.run("update")
    assert update.returncode == 1
    assert ".template-answers.json is missing" in update.stdout
