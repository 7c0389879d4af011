"""Python client for the Node "oracle" in ``oracle/``: Backstage's own packages.

The scripts there render skeletons with Backstage's real ``fetch:template`` action,
dry-run whole ``template.yaml`` files and validate catalog entities, so tests can
compare the Python renderer against the real thing byte for byte.

Install the Node side once with ``npm ci --prefix oracle``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypedDict

__all__ = [
    "INSTALL_HINT",
    "ORACLE_DIR",
    "DryRunFile",
    "DryRunResult",
    "DryRunStep",
    "FetchJob",
    "FetchOptions",
    "FetchResult",
    "OracleError",
    "OracleNotInstalledError",
    "RegisterJob",
    "RegisterResult",
    "Relation",
    "TreeEntry",
    "ValidationResult",
    "diff_trees",
    "dry_run",
    "ensure_installed",
    "fetch_template_batch",
    "register_in_catalog",
    "snapshot_tree",
    "validate_entities",
    "validate_parameters",
]

ORACLE_DIR: Final[Path] = Path(__file__).resolve().parent.parent / "oracle"
INSTALL_HINT: Final[str] = "npm ci --prefix oracle"

# A package the three scripts need; its absence means `npm ci` has not been run.
_MARKER: Final[Path] = Path("node_modules", "@backstage", "plugin-scaffolder-backend")


class OracleError(RuntimeError):
    """A Node oracle script failed or printed something that is not its result."""


class OracleNotInstalledError(OracleError):
    """Node or the oracle's npm packages are missing."""


def ensure_installed(oracle_dir: Path = ORACLE_DIR) -> None:
    """Raise :class:`OracleNotInstalledError` unless Node and the npm packages are there."""
    if shutil.which("node") is None:
        raise OracleNotInstalledError(
            "the Backstage oracle needs Node.js (20 or later) on PATH: `node` was not found"
        )
    if not (oracle_dir / _MARKER).is_dir():
        raise OracleNotInstalledError(
            f"the Backstage oracle's npm packages are not installed ({oracle_dir / 'node_modules'}"
            f" is missing or incomplete): run `{INSTALL_HINT}` in the repository root"
        )


def _run_script(
    script: str,
    *,
    args: Sequence[str] = (),
    payload: object = None,
    timeout: float,
    ok_codes: tuple[int, ...] = (0,),
) -> Any:
    """Run ``oracle/<script>`` and return its stdout parsed as JSON."""
    ensure_installed()
    stdin = None if payload is None else json.dumps(payload)
    try:
        proc = subprocess.run(
            ["node", str(ORACLE_DIR / script), *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
            cwd=ORACLE_DIR,
        )
    except subprocess.TimeoutExpired as exc:
        raise OracleError(f"oracle/{script} timed out after {timeout:.0f}s") from exc
    if proc.returncode not in ok_codes:
        raise OracleError(f"oracle/{script} exited with {proc.returncode}: {proc.stderr.strip()[-4000:]}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise OracleError(
            f"oracle/{script} printed no JSON document: {proc.stdout[:500]!r}"
            f" (stderr: {proc.stderr.strip()[-2000:]})"
        ) from exc


# --------------------------------------------------------------------------- fetch:template


class FetchOptions(TypedDict, total=False):
    """Extra ``fetch:template`` inputs (Backstage's own names)."""

    targetPath: str
    copyWithoutTemplating: list[str]
    copyWithoutRender: list[str]
    templateFileExtension: str | bool
    trimBlocks: bool
    lstripBlocks: bool
    replace: bool
    cookiecutterCompat: bool


@dataclass(frozen=True)
class FetchJob:
    """One render: ``skeleton`` (a directory) into ``workspace`` with ``values``."""

    id: str
    skeleton: Path
    workspace: Path
    values: Mapping[str, Any] = field(default_factory=dict)
    input: FetchOptions | None = None


@dataclass(frozen=True)
class FetchResult:
    id: str
    ok: bool
    error: str | None = None
    error_name: str | None = None
    # On failure: the action's last log line, which names the file being written.
    last_log: str | None = None


def fetch_template_batch(jobs: Sequence[FetchJob], *, timeout: float | None = None) -> list[FetchResult]:
    """Render every job with Backstage's ``fetch:template``, in one Node process.

    Jobs run in order; a failing job gives ``ok=False`` and does not stop the others.
    """
    payload = {
        "jobs": [
            {
                "id": job.id,
                "skeleton": str(Path(job.skeleton).resolve()),
                "workspace": str(Path(job.workspace).resolve()),
                "values": dict(job.values),
                "input": dict(job.input or {}),
            }
            for job in jobs
        ]
    }
    limit = timeout if timeout is not None else 60.0 + 2.0 * len(jobs)
    doc = _run_script("fetch-template.cjs", payload=payload, timeout=limit)
    results = [
        FetchResult(
            id=str(item["id"]),
            ok=bool(item["ok"]),
            error=item.get("error"),
            error_name=item.get("errorName"),
            last_log=item.get("lastLog"),
        )
        for item in doc["results"]
    ]
    if [r.id for r in results] != [job.id for job in jobs]:
        raise OracleError("oracle/fetch-template.cjs returned results for other jobs")
    return results


# --------------------------------------------------------------------------- dry run


@dataclass(frozen=True)
class DryRunFile:
    path: str
    executable: bool
    symlink: bool
    size: int


@dataclass(frozen=True)
class DryRunStep:
    id: str
    name: str
    action: str
    # "completed", "skipped", "failed", "processing" or "not-run"
    status: str
    skipped: bool
    # "dry-run-unsupported", "if-false" or "previous-step-failed"
    skip_reason: str | None = None
    # The rendered step input, as the dry run logged it (secrets redacted).
    input: dict[str, Any] | None = None
    # For steps skipped because the action has no dry run: the example output
    # Backstage put in `steps.<id>.output` for the steps after it.
    output: dict[str, Any] | None = None


@dataclass(frozen=True)
class DryRunResult:
    ok: bool
    files: list[DryRunFile] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)
    steps: list[DryRunStep] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    # Parameter validation errors (jsonschema), when values do not match parameters.
    errors: list[str] = field(default_factory=list)


def dry_run(
    template: Path,
    values: Mapping[str, Any],
    workspace: Path,
    *,
    secrets: Mapping[str, str] | None = None,
    user: Mapping[str, Any] | None = None,
    glob_patterns: Sequence[str] | None = None,
    timeout: float = 300.0,
) -> DryRunResult:
    """Dry-run ``template`` (a template.yaml) with Backstage's own dry runner.

    The files the dry run produced are written under ``workspace``. ``glob_patterns``
    chooses which files beside template.yaml are uploaded (the default leaves out
    .git, node_modules, .venv and caches).
    """
    payload: dict[str, Any] = {
        "template": str(Path(template).resolve()),
        "values": dict(values),
        "workspace": str(Path(workspace).resolve()),
    }
    if secrets is not None:
        payload["secrets"] = dict(secrets)
    if user is not None:
        payload["user"] = dict(user)
    if glob_patterns is not None:
        payload["globPatterns"] = list(glob_patterns)
    doc = _run_script("dry-run.cjs", payload=payload, timeout=timeout)
    return DryRunResult(
        ok=bool(doc["ok"]),
        files=[
            DryRunFile(
                path=str(f["path"]),
                executable=bool(f["executable"]),
                symlink=bool(f["symlink"]),
                size=int(f["size"]),
            )
            for f in doc.get("files", [])
        ],
        output=dict(doc.get("output") or {}),
        steps=[
            DryRunStep(
                id=str(s["id"]),
                name=str(s["name"]),
                action=str(s["action"]),
                status=str(s["status"]),
                skipped=bool(s["skipped"]),
                skip_reason=s.get("skipReason"),
                input=s.get("input"),
                output=s.get("output"),
            )
            for s in doc.get("steps", [])
        ],
        log=list(doc.get("log", [])),
        error=doc.get("error"),
        errors=[str(e) for e in doc.get("errors", [])],
    )


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class ValidationResult:
    file: Path
    index: int  # the YAML document's index in its file
    kind: str | None
    ok: bool
    error: str | None = None


def validate_entities(paths: Sequence[Path], *, timeout: float = 120.0) -> list[ValidationResult]:
    """Validate every YAML document of ``paths`` with Backstage's catalog rules.

    Raises :class:`OracleError` when a file cannot be read or is not valid YAML.
    """
    if not paths:
        return []
    doc = _run_script("validate.cjs", args=[str(Path(p).resolve()) for p in paths], timeout=timeout)
    return [
        ValidationResult(
            file=Path(r["file"]),
            index=int(r["index"]),
            kind=r.get("kind"),
            ok=bool(r["ok"]),
            error=r.get("error"),
        )
        for r in doc["results"]
    ]


def validate_parameters(
    template: Path, submissions: Sequence[Mapping[str, Any]], *, timeout: float = 120.0
) -> list[list[str]]:
    """Check each set of values against ``template``'s form pages as the scaffolder API does.

    Returns, per set, the validation errors (an empty list when Backstage accepts it).
    """
    payload = {"template": str(Path(template).resolve()), "values": [dict(values) for values in submissions]}
    doc = _run_script("validate-parameters.cjs", payload=payload, timeout=timeout)
    results = doc["results"]
    if len(results) != len(submissions):
        raise OracleError("oracle/validate-parameters.cjs returned a result per set of values")
    return [[str(error) for error in result.get("errors", [])] for result in results]


# --------------------------------------------------------------------------- catalog:register


@dataclass(frozen=True)
class RegisterJob:
    """Register ``root``'s catalog file as the template's ``catalog:register`` step would.

    ``repo_contents_url`` is what ``publish:github`` outputs (``https://github.com/<owner>/
    <repo>/blob/<branch>``); the oracle reads the URLs under it from ``root``. ``config`` is
    the Backstage ``app-config`` (its ``catalog.rules`` decide which kinds may be ingested).
    """

    id: str
    root: Path
    repo_contents_url: str
    catalog_info_path: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Relation:
    source: str  # full entity refs, kind:namespace/name
    type: str
    target: str


@dataclass(frozen=True)
class RegisterResult:
    id: str
    ok: bool
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    entities: list[dict[str, Any]] = field(default_factory=list)
    relations: frozenset[Relation] = frozenset()


def register_in_catalog(jobs: Sequence[RegisterJob], *, timeout: float = 300.0) -> list[RegisterResult]:
    """Run the scaffolder's ``catalog:register`` action against the catalog's own processing.

    One Node process for all jobs: the action, the catalog's location service (dry run),
    its processing orchestrator, processors (``$text`` placeholders, validation,
    relations), entity policies and catalog rules. Each result holds the action's outputs,
    the processed entities and the relations the processors emitted.
    """
    payload = {
        "jobs": [
            {
                "id": job.id,
                "root": str(Path(job.root).resolve()),
                "repoContentsUrl": job.repo_contents_url,
                "catalogInfoPath": job.catalog_info_path,
                "config": dict(job.config),
            }
            for job in jobs
        ]
    }
    doc = _run_script("catalog-register.cjs", payload=payload, timeout=timeout)
    results = [
        RegisterResult(
            id=str(item["id"]),
            ok=bool(item["ok"]),
            error=item.get("error"),
            outputs=dict(item.get("outputs", {})),
            entities=list(item.get("entities", [])),
            relations=frozenset(Relation(**relation) for relation in item.get("relations", [])),
        )
        for item in doc["results"]
    ]
    if [result.id for result in results] != [job.id for job in jobs]:
        raise OracleError("oracle/catalog-register.cjs returned results that do not match its jobs")
    return results


# --------------------------------------------------------------------------- tree comparison

# (kind: "file" | "dir" | "symlink",
#  bytes of a file / target of a symlink / "" for a directory,
#  executable bit)
TreeEntry = tuple[str, bytes | str, bool]


def snapshot_tree(root: Path) -> dict[str, TreeEntry]:
    """Everything under ``root`` (not ``root`` itself), keyed by relative POSIX path.

    Symlinks are not followed. The executable bit is the owner's, and is always
    False for directories and symlinks.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(root)
    tree: dict[str, TreeEntry] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        # os.walk lists symlinks to directories among dirnames: treat them as links.
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("symlink", os.readlink(path), False)
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir", "", False)
            else:
                tree[rel] = ("file", path.read_bytes(), bool(st.st_mode & stat.S_IXUSR))
    return dict(sorted(tree.items()))


def _first_difference(a: bytes, b: bytes) -> str:
    try:
        a_text, b_text = a.decode("utf-8"), b.decode("utf-8")
    except UnicodeDecodeError:
        offset = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        return f"bytes differ from offset {offset} (sizes {len(a)} and {len(b)})"
    a_lines = a_text.splitlines(keepends=True)
    b_lines = b_text.splitlines(keepends=True)
    for number, (x, y) in enumerate(zip(a_lines, b_lines, strict=False), start=1):
        if x != y:
            return f"line {number}: {x[:200]!r} != {y[:200]!r}"
    number = min(len(a_lines), len(b_lines)) + 1
    extra_a = a_lines[number - 1] if len(a_lines) >= number else None
    extra_b = b_lines[number - 1] if len(b_lines) >= number else None
    return f"line {number}: {extra_a!r} != {extra_b!r} (one side ends first)"


def diff_trees(
    a: Mapping[str, TreeEntry] | Path,
    b: Mapping[str, TreeEntry] | Path,
    *,
    a_name: str = "a",
    b_name: str = "b",
) -> list[str]:
    """Human-readable differences between two trees (snapshots or directories).

    An empty list means the trees are identical: same paths, kinds, bytes, link
    targets and executable bits.
    """
    left = snapshot_tree(a) if isinstance(a, Path) else a
    right = snapshot_tree(b) if isinstance(b, Path) else b
    problems: list[str] = []
    for rel in sorted(left.keys() | right.keys()):
        if rel not in right:
            problems.append(f"{rel}: only in {a_name} ({left[rel][0]})")
            continue
        if rel not in left:
            problems.append(f"{rel}: only in {b_name} ({right[rel][0]})")
            continue
        (a_kind, a_data, a_exec), (b_kind, b_data, b_exec) = left[rel], right[rel]
        if a_kind != b_kind:
            problems.append(f"{rel}: {a_kind} in {a_name}, {b_kind} in {b_name}")
            continue
        if a_kind == "symlink" and a_data != b_data:
            problems.append(f"{rel}: symlink targets differ: {a_data!r} != {b_data!r}")
        if a_kind == "file" and a_data != b_data:
            assert isinstance(a_data, bytes)
            assert isinstance(b_data, bytes)
            where = _first_difference(a_data, b_data)
            problems.append(f"{rel}: contents differ ({a_name} vs {b_name}), {where}")
        if a_exec != b_exec:
            problems.append(f"{rel}: executable bit differs: {a_name}={a_exec}, {b_name}={b_exec}")
    return problems
