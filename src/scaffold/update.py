"""`scaffold update`: take a generated service to another template version or other answers.

The template is rendered twice with the service's recorded answers: at the version the
service was made from (the base) and at the target, with new parameters' defaults and
`--set` values; answers that the target renamed or reshaped are first translated as its
`answer-migrations.yaml` declares (scaffold.answer_migrations). The base-to-target change
is then merged into the service's repository by git's own three-way merge
(`git merge-tree`), so git's rules decide what is applied, kept or left in conflict,
renames included. The merge runs in a scratch repository whose refs name the sides, so
conflict markers read `service` and `template-<ref>`.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from scaffold.answer_migrations import MIGRATIONS_FILE, AnswerMigrationError, load_migrations, migrate
from scaffold.git import Git, GitError
from scaffold.workflow import Template, TemplateInputError, known_parameters, parse_assignments, run_template

ANSWERS_FILE = ".template-answers.json"
RELEASE_TAG = re.compile(r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
# The scratch commits need an author; the user may have none configured (a CI runner).
IDENTITY = {
    key: value
    for role in ("AUTHOR", "COMMITTER")
    for key, value in ((f"GIT_{role}_NAME", "scaffold update"), (f"GIT_{role}_EMAIL", "scaffold@localhost"))
}
EXIT_CONFLICTS = 1
# `git merge-tree --write-tree`, the merge without a checkout, came with git 2.38.
OLDEST_GIT = (2, 38)


class UpdateError(Exception):
    """Bad input, found before anything is written; the message is one line."""


@dataclass(frozen=True)
class Answers:
    """`.template-answers.json`: where a service comes from and what it was rendered with."""

    template: str
    version: str
    parameters: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> Answers:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise UpdateError(f"{path}:{error.lineno}: malformed JSON: {error.msg}") from error
        except UnicodeDecodeError as error:
            raise UpdateError(f"{path}: not UTF-8 text") from error
        if not (
            isinstance(data, dict)
            and isinstance(data.get("template"), str)
            and isinstance(data.get("version"), str)
            and isinstance(data.get("parameters"), dict)
        ):
            raise UpdateError(f'{path}: expected {{"template": text, "version": text, "parameters": object}}')
        return cls(data["template"], data["version"], data["parameters"])


@dataclass(frozen=True)
class UpdateRequest:
    project: Path
    template: str | None = None
    to: str | None = None
    assignments: Sequence[str] = ()
    dry_run: bool = False


@dataclass(frozen=True)
class Merge:
    tree: str
    # `git update-index --index-info` lines (mode, blob, stage, path) of the conflicted paths.
    stages: list[str]
    conflicts: list[str]
    messages: list[str]


def update(request: UpdateRequest, out: TextIO) -> int:
    """Merge the change into the service (or print it); 0, or 1 with conflicts left."""
    try:
        return _update(request, out)
    except (GitError, TemplateInputError) as error:
        raise UpdateError(str(error)) from error


def _update(request: UpdateRequest, out: TextIO) -> int:
    service, root, answers = _checked_service(request.project)
    source = request.template or answers.template
    with tempfile.TemporaryDirectory(prefix="scaffold-update-") as scratch_name:
        scratch = Path(scratch_name)
        template = _template_repository(source, scratch / "template.git")
        target = _render_both(template, source, answers, request, scratch)
        # The answers file always takes the target's content: the service's copy counts as the base.
        (scratch / "base" / ANSWERS_FILE).write_bytes((root / ANSWERS_FILE).read_bytes())

        name = answers.parameters.get("name", root.name)
        print(
            f"updating {name} from template {answers.version} to {target.label} ({target.version})", file=out
        )
        for line in [*target.migrations, *_parameter_changes(target.migrated, target.parameters)]:
            print(f"  parameter {line}", file=out)
        merger = _scratch_merge(service, scratch / "merge.git", dry_run=request.dry_run)
        merge = _merge(merger, service, scratch, label=target.label)
        head = service("rev-parse", "HEAD^{tree}").strip()
        changes = merger("diff", "--name-status", "-M", head, merge.tree)
        if not changes:
            print("nothing to change: the service has this template version and these answers", file=out)
            return 0
        print("changes:", file=out)
        for line in changes.splitlines():
            print(f"  {line}", file=out)
        _report_conflicts(merge, out)
        if request.dry_run:
            print(merger("diff", "-M", head, merge.tree), end="", file=out)
            print("dry run: nothing was written", file=out)
        else:
            _apply(service, merge)
            _print_next_steps(merge, out)
    return EXIT_CONFLICTS if merge.conflicts else 0


def _checked_service(project: Path) -> tuple[Git, Path, Answers]:
    """The service's repository, root and answers, refused unless it is a generated service
    with everything committed."""
    version = Git(Path.cwd())("version").strip()
    found = re.search(r"([0-9]+)\.([0-9]+)", version)
    if found is None or (int(found[1]), int(found[2])) < OLDEST_GIT:
        raise UpdateError(
            f"scaffold update needs git {'.'.join(map(str, OLDEST_GIT))} or later, found {version!r}"
        )
    service, root = _service(project)
    answers_path = root / ANSWERS_FILE
    if not answers_path.is_file():
        raise UpdateError(f"{root}: not a generated service (no {ANSWERS_FILE} at its root)")
    answers = Answers.read(answers_path)
    if service.commit("HEAD") is None:
        raise UpdateError(f"{root}: no commit yet; commit the service first")
    # --no-optional-locks: a status that refreshes the index would write it.
    changed = service("--no-optional-locks", "status", "--porcelain").splitlines()
    if changed:
        raise UpdateError(f"{root}: {len(changed)} uncommitted change(s); commit or stash them first")
    return service, root, answers


@dataclass(frozen=True)
class Target:
    label: str  # the ref, as markers and messages name it
    version: str  # what its answers file records
    parameters: dict[str, Any]
    # The recorded answers after the target's answer migrations, and what those changed.
    migrated: dict[str, Any]
    migrations: list[str]


def _render_both(
    template: Git, source: str, answers: Answers, request: UpdateRequest, scratch: Path
) -> Target:
    """The base render (the recorded version and answers) in scratch/base and the target render
    (recorded answers, translated by the target's answer migrations, that the target still
    asks for, its defaults, --set) in scratch/target."""
    base = template.commit(f"v{answers.version}")
    if base is None:
        raise UpdateError(f"unknown version {answers.version}: {source} has no tag v{answers.version}")
    label, target = _target(template, source, request.to)
    base_template = _checkout(template, base, scratch / "base-template")
    try:
        run_template(base_template, answers.parameters, _folder(scratch / "base"))
    except TemplateInputError as error:
        raise UpdateError(
            f"the recorded answers do not render at version {answers.version}: {error}"
        ) from error

    target_template = _checkout(template, target, scratch / "target-template")
    known = known_parameters(target_template)
    migrated, migrations = _migrated_answers(target_template, label, answers, known)
    values = {name: value for name, value in migrated.items() if name in known}
    values.update(parse_assignments(request.assignments, known))
    try:
        parameters = run_template(target_template, values, _folder(scratch / "target")).parameters
    except TemplateInputError as error:
        raise UpdateError(f"{label}: {error}") from error
    target_answers = scratch / "target" / ANSWERS_FILE
    if not target_answers.is_file():
        raise UpdateError(f"{label} writes no {ANSWERS_FILE}, so the service could not be updated again")
    return Target(label, Answers.read(target_answers).version, parameters, migrated, migrations)


def _migrated_answers(
    target_template: Template, label: str, answers: Answers, known: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The recorded answers translated by the target's answer migrations, and a line per
    translation."""
    declaration = target_template.path.parent / MIGRATIONS_FILE
    if not declaration.is_file():
        return dict(answers.parameters), []
    try:
        text = declaration.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UpdateError(f"{label}:{MIGRATIONS_FILE}: not UTF-8 text") from error
    try:
        migrations = load_migrations(text, f"{label}:{MIGRATIONS_FILE}")
        return migrate(migrations, answers.version, answers.parameters, known)
    except AnswerMigrationError as error:
        raise UpdateError(str(error)) from error


def _service(project: Path) -> tuple[Git, Path]:
    if not project.is_dir():
        raise UpdateError(f"{project}: no such folder")
    code, out = Git(project).run("rev-parse", "--show-toplevel", ok=(0, 128))
    if code != 0 or not out.strip():
        raise UpdateError(f"{project}: not a git repository; run scaffold update in the generated service")
    root = Path(out.strip())
    return Git(root), root


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _template_repository(source: str, clone: Path) -> Git:
    """The template's repository: a local one as it is, a URL cloned (bare) into `clone`."""
    local = Path(source).expanduser()
    if local.exists():
        repository = Git(local.resolve())
        if not local.is_dir() or repository.run("rev-parse", "--git-dir", ok=(0, 128))[0] != 0:
            raise UpdateError(f"template {source}: not a git repository")
        return repository
    try:
        # No prompt for credentials: an unreachable template fails instead of waiting.
        Git(clone.parent, {"GIT_TERMINAL_PROMPT": "0"})(
            "clone", "--bare", "--quiet", "--", source, str(clone)
        )
    except GitError as error:
        raise UpdateError(f"template {source} is not reachable: {error}") from error
    return Git(clone)


def _target(template: Git, source: str, to: str | None) -> tuple[str, str]:
    """The target's name and commit: `--to` (a ref, or a version of a release tag), or the
    highest release tag."""
    if to is None:
        releases = [tag for tag in template("tag", "--list", "v*").split() if RELEASE_TAG.fullmatch(tag)]
        if not releases:
            raise UpdateError(f"{source} has no release tag (vX.Y.Z); name a target with --to")
        to = max(releases, key=lambda tag: tuple(int(part) for part in tag[1:].split(".")))
    for name in (to, f"v{to}"):
        commit = template.commit(name)
        if commit is not None:
            return name, commit
    raise UpdateError(f"unknown version or ref {to!r}: {source} has no such tag, branch or commit")


def _checkout(template: Git, commit: str, into: Path) -> Template:
    """The template's files at `commit`, written into `into` (the repository is not touched)."""
    exporter = template.with_environment(GIT_INDEX_FILE=str(into.with_suffix(".index")))
    exporter("read-tree", commit)
    exporter("--work-tree", str(_folder(into)), "checkout-index", "--all")
    return Template.load(into / "template.yaml")


def _parameter_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    lines = [f"{name}: new, {json.dumps(after[name])}" for name in after if name not in before]
    lines += [
        f"{name}: {json.dumps(before[name])} -> {json.dumps(after[name])}"
        for name in after
        if name in before and before[name] != after[name]
    ]
    lines += [f"{name}: dropped, the template no longer asks for it" for name in before if name not in after]
    return lines


def _scratch_merge(service: Git, scratch: Path, *, dry_run: bool) -> Git:
    """A bare scratch repository that reads the service's objects. A real update writes its
    objects (renders, merge result) into the service's store, where the merged index needs
    them; a dry run keeps them in the scratch store."""
    objects = Path(service("rev-parse", "--path-format=absolute", "--git-path", "objects").strip())
    Git(scratch.parent)("init", "--quiet", "--bare", str(scratch))
    environment = {"GIT_DIR": str(scratch), **IDENTITY}
    if dry_run:
        environment["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = str(objects)
    else:
        environment["GIT_OBJECT_DIRECTORY"] = str(objects)
    return Git(scratch, environment)


def _tree(merger: Git, folder: Path) -> str:
    """The tree object of a rendered folder (every file, whatever a .gitignore says)."""
    indexer = Git(folder, {**merger.environment, "GIT_INDEX_FILE": str(folder.with_suffix(".index"))})
    indexer("--work-tree", str(folder), "add", "--all", "--force", ".")
    return indexer("write-tree").strip()


def _merge(merger: Git, service: Git, scratch: Path, *, label: str) -> Merge:
    base = merger("commit-tree", _tree(merger, scratch / "base"), "-m", "template base").strip()
    target = merger("commit-tree", _tree(merger, scratch / "target"), "-p", base, "-m", "target").strip()
    head = service("rev-parse", "HEAD^{tree}").strip()
    ours = merger("commit-tree", head, "-p", base, "-m", "service").strip()
    theirs_ref = "template-" + re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip(".-")
    merger("update-ref", "refs/heads/service", ours)
    merger("update-ref", f"refs/heads/{theirs_ref}", target)
    _, out = merger.run("merge-tree", "--write-tree", "-z", "service", theirs_ref, ok=(0, 1))
    # -z output: the tree, a NUL-terminated entry per conflicted stage, an empty field, then
    # messages as: number of paths, the paths, a type, the message.
    conflicted, _, tail = out.partition("\0\0")
    tree, *stages = conflicted.split("\0")
    conflicts = list(dict.fromkeys(entry.split("\t", 1)[1] for entry in stages if entry))
    messages, fields = [], tail.split("\0")
    while len(fields) > 1:
        count = int(fields[0])
        kind, message = fields[count + 1], fields[count + 2]
        if kind.startswith("CONFLICT"):
            messages.append(message.strip())
        fields = fields[count + 3 :]
    return Merge(tree, [entry for entry in stages if entry], conflicts, messages)


def _report_conflicts(merge: Merge, out: TextIO) -> None:
    if not merge.conflicts:
        return
    print(f"conflicts ({len(merge.conflicts)}):", file=out)
    for path in merge.conflicts:
        print(f"  {path}", file=out)
    for message in merge.messages:
        print(f"  {message}", file=out)


def _apply(service: Git, merge: Merge) -> None:
    """Index and working tree to the merge; conflicted paths get their stages back, as after
    `git merge`, so `git status` lists them and a commit waits until they are resolved."""
    service("read-tree", "-m", "-u", "HEAD", merge.tree)
    if merge.stages:
        removals = [f"0 {'0' * len(merge.tree)}\t{path}" for path in merge.conflicts]
        service("update-index", "-z", "--index-info", stdin="\0".join([*removals, *merge.stages]) + "\0")


def _print_next_steps(merge: Merge, out: TextIO) -> None:
    if merge.conflicts:
        print(
            f"{ANSWERS_FILE} is updated with the merge; resolve the conflict markers, "
            "`git add` the files, then commit",
            file=out,
        )
    else:
        print("merged and staged; review with `git diff --cached`, then commit", file=out)
