"""Tests of the Node oracle harness itself (oracle/*.cjs and tests/oracle.py).

These need ``oracle/node_modules``: without it they fail (never skip) with the
message of :func:`oracle.ensure_installed`, which names ``npm ci --prefix oracle``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from oracle import (
    INSTALL_HINT,
    FetchJob,
    OracleError,
    OracleNotInstalledError,
    diff_trees,
    dry_run,
    ensure_installed,
    fetch_template_batch,
    snapshot_tree,
    validate_entities,
)


def write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mode is not None:
        path.chmod(mode)
    return path


def make_skeleton(root: Path) -> Path:
    """A tiny skeleton: a rendered file, a rendered path, a script, an optional folder."""
    skel = root / "skeleton"
    write(skel / "README.md", "# ${{ values.name }}\n\nLiteral {{ braces }} stay.\n")
    write(skel / "src" / "${{ values.name }}" / "__init__.py", '"""${{ values.name }}."""\n')
    write(skel / "run.sh", "#!/bin/sh\necho ${{ values.name }}\n", mode=0o755)
    write(skel / "${{ 'extras' if values.extras else '' }}" / "extra.txt", "extra\n")
    return skel


# --------------------------------------------------------------------------- fetch:template


def test_fetch_template_renders_tiny_skeleton(tmp_path: Path) -> None:
    skel = make_skeleton(tmp_path)
    plain, extras = tmp_path / "out-plain", tmp_path / "out-extras"
    results = fetch_template_batch(
        [
            FetchJob("plain", skel, plain, {"name": "demo", "extras": False}),
            FetchJob("extras", skel, extras, {"name": "demo", "extras": True}),
        ]
    )
    assert [(r.id, r.ok, r.error) for r in results] == [
        ("plain", True, None),
        ("extras", True, None),
    ]

    tree = snapshot_tree(plain)
    assert set(tree) == {"README.md", "src", "src/demo", "src/demo/__init__.py", "run.sh"}
    assert tree["README.md"] == ("file", b"# demo\n\nLiteral {{ braces }} stay.\n", False)
    assert tree["src/demo/__init__.py"] == ("file", b'"""demo."""\n', False)
    assert tree["run.sh"] == ("file", b"#!/bin/sh\necho demo\n", True)
    # Modes are deterministic: the oracle runs with umask 022.
    assert (plain / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (plain / "README.md").stat().st_mode & 0o777 == 0o644

    assert (extras / "extras" / "extra.txt").read_text() == "extra\n"
    assert diff_trees(plain, extras, a_name="plain", b_name="extras") == [
        "extras: only in extras (dir)",
        "extras/extra.txt: only in extras (file)",
    ]


def test_fetch_template_failure_does_not_abort_batch(tmp_path: Path) -> None:
    good = make_skeleton(tmp_path / "good")
    bad = tmp_path / "bad" / "skeleton"
    write(bad / "broken.txt", "${{ values.name | no_such_filter }}\n")
    results = fetch_template_batch(
        [
            FetchJob("first", good, tmp_path / "out1", {"name": "one"}),
            FetchJob("broken", bad, tmp_path / "out2", {"name": "two"}),
            FetchJob("last", good, tmp_path / "out3", {"name": "three"}),
        ]
    )
    by_id = {r.id: r for r in results}
    assert by_id["first"].ok
    assert by_id["last"].ok
    assert not by_id["broken"].ok
    assert by_id["broken"].error
    assert "no_such_filter" in by_id["broken"].error
    assert "broken.txt" in (by_id["broken"].last_log or "")
    assert (tmp_path / "out3" / "src" / "three" / "__init__.py").is_file()


def test_fetch_template_passes_action_inputs(tmp_path: Path) -> None:
    skel = make_skeleton(tmp_path)
    out = tmp_path / "out"
    results = fetch_template_batch(
        [
            FetchJob(
                "sub",
                skel,
                out,
                {"name": "demo"},
                {"targetPath": "sub", "copyWithoutTemplating": ["README.md"]},
            ),
            # Backstage's own input validation rejects a non-array glob list.
            FetchJob("invalid", skel, out, {}, {"copyWithoutTemplating": "README.md"}),  # type: ignore[arg-type]
        ]
    )
    assert results[0].ok, results[0].error
    assert (out / "sub" / "README.md").read_text().startswith("# ${{ values.name }}")
    assert not results[1].ok
    assert results[1].error_name == "InputError"


def test_fetch_template_skips_existing_files_unless_replace(tmp_path: Path) -> None:
    skel = make_skeleton(tmp_path)
    keep, replace = tmp_path / "keep", tmp_path / "replace"
    for out in (keep, replace):
        write(out / "README.md", "old\n", mode=0o600)
    results = fetch_template_batch(
        [
            FetchJob("keep", skel, keep, {"name": "demo"}),
            FetchJob("replace", skel, replace, {"name": "demo"}, {"replace": True}),
        ]
    )
    assert all(r.ok for r in results)
    assert (keep / "README.md").read_text() == "old\n"
    assert (replace / "README.md").read_text().startswith("# demo\n")
    # The existing file's mode is kept: the source mode only applies on creation.
    assert (replace / "README.md").stat().st_mode & 0o777 == 0o600


def test_fetch_template_batch_renders_every_job(tmp_path: Path) -> None:
    skel = make_skeleton(tmp_path)
    jobs = [FetchJob(f"j{i}", skel, tmp_path / f"o{i}", {"name": f"n{i}"}) for i in range(100)]
    results = fetch_template_batch(jobs)
    assert [r.id for r in results if r.ok] == [job.id for job in jobs]
    assert all(any(job.workspace.rglob("*")) for job in jobs)


# --------------------------------------------------------------------------- validate.cjs

COMPONENT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: demo-service
  annotations:
    github.com/project-slug: acme/demo-service
    backstage.io/techdocs-ref: dir:.
spec:
  type: service
  lifecycle: experimental
  owner: group:default/platform
"""

TEMPLATE = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: tiny
  title: Tiny template
spec:
  owner: group:default/platform
  type: service
  parameters:
    - title: Basics
      required: [name]
      properties:
        name:
          type: string
          pattern: '^[a-z][a-z0-9-]*$'
        repoUrl:
          type: string
  steps:
    - id: fetch
      name: Fetch skeleton
      action: fetch:template
      input:
        url: ./skeleton
        values:
          name: ${{ parameters.name }}
    - id: publish
      name: Publish
      action: publish:github
      input:
        repoUrl: ${{ parameters.repoUrl }}
        defaultBranch: main
  output:
    links:
      - title: Repository
        url: ${{ steps.publish.output.remoteUrl }}
    text:
      - title: Done
        content: Created **${{ parameters.name }}**
"""


def test_validate_component(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", COMPONENT)
    no_owner = write(tmp_path / "no-owner.yaml", COMPONENT.replace("  owner: group:default/platform\n", ""))
    results = validate_entities([good, no_owner])
    assert [(r.file.name, r.index, r.kind, r.ok) for r in results] == [
        ("good.yaml", 0, "Component", True),
        ("no-owner.yaml", 0, "Component", False),
    ]
    assert results[1].error
    assert "owner" in results[1].error


def test_validate_template_and_multi_document_files(tmp_path: Path) -> None:
    good = write(tmp_path / "template.yaml", TEMPLATE)
    head, _, tail = TEMPLATE.partition("  steps:\n")
    no_steps = write(tmp_path / "no-steps.yaml", head + tail[tail.index("  output:") :])
    location = textwrap.dedent(
        """\
        apiVersion: backstage.io/v1alpha1
        kind: Location
        metadata:
          name: templates
        spec:
          targets: [./template.yaml]
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Gadget
        metadata:
          name: unknown-kind
        """
    )
    multi = write(tmp_path / "multi.yaml", location)
    results = validate_entities([good, no_steps, multi])
    summary = [(r.file.name, r.index, r.kind, r.ok) for r in results]
    assert summary == [
        ("template.yaml", 0, "Template", True),
        ("no-steps.yaml", 0, "Template", False),
        ("multi.yaml", 0, "Location", True),
        ("multi.yaml", 1, "Gadget", False),
    ]
    assert results[1].error
    assert "steps" in results[1].error


def test_validate_reports_yaml_errors_as_usage_errors(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yaml", "a: [1, 2\nb: c\n")
    with pytest.raises(OracleError, match=r"broken\.yaml"):
        validate_entities([broken])


# --------------------------------------------------------------------------- dry-run.cjs


def test_dry_run_renders_files_and_skips_publish(tmp_path: Path) -> None:
    template = write(tmp_path / "tpl" / "template.yaml", TEMPLATE)
    make_skeleton(template.parent)
    out = tmp_path / "out"
    result = dry_run(template, {"name": "demo", "repoUrl": "github.com?owner=acme&repo=demo"}, out)
    assert result.ok, result.error
    assert {f.path for f in result.files} == {"README.md", "src/demo/__init__.py", "run.sh"}
    assert (out / "README.md").read_text() == "# demo\n\nLiteral {{ braces }} stay.\n"

    # Backstage quirk: a dry run loses executable bits (the uploaded template files
    # are unpacked with plain writeFile), so run.sh comes back non-executable.
    assert {f.path: f.executable for f in result.files}["run.sh"] is False

    steps = {s.id: s for s in result.steps}
    assert steps["fetch"].status == "completed"
    assert not steps["fetch"].skipped
    assert steps["fetch"].input == {"url": "./skeleton", "values": {"name": "demo"}}
    assert steps["publish"].skipped
    assert steps["publish"].skip_reason == "dry-run-unsupported"
    assert steps["publish"].input == {
        "repoUrl": "github.com?owner=acme&repo=demo",
        "defaultBranch": "main",
    }
    # Skipped actions get example outputs generated from their output schema.
    assert steps["publish"].output == {
        "remoteUrl": "<example>",
        "repoContentsUrl": "<example>",
        "commitHash": "<example>",
    }
    assert result.output == {
        "links": [{"title": "Repository", "url": "<example>"}],
        "text": [{"title": "Done", "content": "Created **demo**"}],
    }
    assert any("does not support dry-run" in str(e.get("message")) for e in result.log)


def test_dry_run_rejects_values_that_break_parameters(tmp_path: Path) -> None:
    template = write(tmp_path / "tpl" / "template.yaml", TEMPLATE)
    make_skeleton(template.parent)
    result = dry_run(template, {"name": "Not Valid"}, tmp_path / "out")
    assert not result.ok
    assert result.errors
    assert "pattern" in (result.error or "")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- pure Python helpers


def test_snapshot_and_diff_trees(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        write(root / "same.txt", "same\n")
        (root / "empty-dir").mkdir()
    write(a / "text.txt", "one\ntwo\nthree\n")
    write(b / "text.txt", "one\nTWO\nthree\n")
    write(a / "script.sh", "#!/bin/sh\n", mode=0o755)
    write(b / "script.sh", "#!/bin/sh\n", mode=0o644)
    write(a / "only-a.txt", "")
    (a / "link").symlink_to("same.txt")
    (b / "link").symlink_to("text.txt")
    (b / "binary.bin").write_bytes(b"\xff\x01")
    (a / "binary.bin").write_bytes(b"\xff\x02")

    snap = snapshot_tree(a)
    assert snap["link"] == ("symlink", "same.txt", False)
    assert snap["empty-dir"] == ("dir", "", False)
    assert snap["script.sh"] == ("file", b"#!/bin/sh\n", True)

    assert diff_trees(snap, b) == [
        "binary.bin: contents differ (a vs b), bytes differ from offset 1 (sizes 2 and 2)",
        "link: symlink targets differ: 'same.txt' != 'text.txt'",
        "only-a.txt: only in a (file)",
        "script.sh: executable bit differs: a=True, b=False",
        "text.txt: contents differ (a vs b), line 2: 'two\\n' != 'TWO\\n'",
    ]
    assert diff_trees(a, a) == []


def test_ensure_installed_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(OracleNotInstalledError, match=r"npm ci --prefix oracle"):
        ensure_installed(tmp_path)
    assert INSTALL_HINT == "npm ci --prefix oracle"
    ensure_installed()  # the real oracle/ must be installed for the tests above
