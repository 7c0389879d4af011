"""`scaffold`: render the Backstage template locally, exactly as Backstage would."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml

from scaffold.fetch_template import FetchTemplateError, FetchTemplateOptions, fetch_template
from scaffold.update import UpdateError, UpdateRequest, update
from scaffold.workflow import (
    DRY_RUN_EXAMPLE,
    Template,
    TemplateInputError,
    describe_yaml_error,
    known_parameters,
    parse_assignments,
    run_template,
)

EXIT_INPUT_ERROR = 2
EXIT_OS_ERROR = 1
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
REPOSITORY_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class UsageError(Exception):
    """Bad input from the command line; reported in one line with exit code 2."""


def _default_template() -> Path:
    local = Path("template.yaml")
    return local if local.exists() else REPOSITORY_TEMPLATE


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{path}: cannot read values file: {error.strerror}") from error
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: malformed JSON: {error.msg}") from error
    except yaml.YAMLError as error:
        raise UsageError(describe_yaml_error(path, error)) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: values file must contain a mapping of parameter names to values")
    return data


def _make_staging_folder(parent: Path, name: str) -> Path:
    """A new hidden folder beside the output, with the mode any new folder gets (0777 & ~umask).

    Not `tempfile.mkdtemp`: its folders are 0700, and the staging folder becomes the output.
    """
    for _ in range(100):
        candidate = parent / f".{name}.{secrets.token_hex(4)}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise UsageError(f"{parent}: cannot create a staging folder: {error.strerror}") from error
        return candidate
    raise UsageError(f"{parent}: cannot create a staging folder")


def _protected_folders(source: Path) -> list[tuple[str, Path]]:
    """Folders an output must neither be nor contain: replacing them would lose work."""
    folders = [("the current folder", Path.cwd())]
    with suppress(RuntimeError):  # no HOME and no password entry: no home to protect
        folders.append(("the home folder", Path.home()))
    folders += [("the template folder", source), ("the filesystem root", Path("/"))]
    return [(label, folder.resolve()) for label, folder in folders]


def _checked_output(output: Path, *, force: bool, source: Path) -> Path:
    """The real output folder (`~` expanded, symlinks followed), refused if writing it is unsafe."""
    try:
        resolved = output.expanduser().resolve()
    except RuntimeError as error:  # Python 3.11 and 3.12 report a symlink loop so
        raise UsageError(f"{output}: cannot follow its symlinks ({error})") from error
    protected = _protected_folders(source)
    # Name the folder it is before one it contains ("/" contains them all).
    hits = [("is", label, folder) for label, folder in protected if folder == resolved]
    hits += [("contains", label, folder) for label, folder in protected if resolved in folder.parents]
    if hits:
        relation, label, folder = hits[0]
        raise UsageError(f"{output}: refused, it {relation} {label} ({folder}); choose a new folder")
    if resolved.exists() and not resolved.is_dir():
        raise UsageError(f"{output}: exists and is not a folder")
    if resolved.is_dir():
        if any(resolved.iterdir()) and not force:
            raise UsageError(f"{output}: folder is not empty (use --force to write the render over it)")
        if not os.access(resolved, os.W_OK | os.X_OK):
            raise UsageError(f"{output}: folder is not writable")
        return resolved
    existing = next(parent for parent in resolved.parents if parent.exists())
    if not existing.is_dir():
        raise UsageError(f"{output}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{output}: cannot create it, {existing} is not writable")
    return resolved


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _kind(path: Path) -> str:
    return "symlink" if path.is_symlink() else "folder" if path.is_dir() else "file"


def _refuse_kind_changes(staging: Path, output: Path) -> None:
    """--force writes files over files and into folders; it never replaces a folder by a file,
    a file by a folder, or writes through a link in the output, so nothing else is lost."""
    for folder, folders, files in os.walk(staging):
        for name in folders + files:
            entry = Path(folder, name)
            target = output / entry.relative_to(staging)
            if os.path.lexists(target) and _is_folder(entry) != _is_folder(target):
                raise UsageError(
                    f"{target}: is a {_kind(target)} where the render writes a {_kind(entry)}; "
                    "move it away first"
                )


def _move_into(staging: Path, output: Path) -> None:
    """Move every rendered entry into `output`, replacing only the paths the render writes."""
    for entry in sorted(staging.iterdir()):
        target = output / entry.name
        if _is_folder(entry) and os.path.lexists(target):
            _move_into(entry, target)
        else:
            os.replace(entry, target)


@contextmanager
def _staged_output(output: Path, *, force: bool, source: Path) -> Iterator[Path]:
    """Yield an empty staging folder, beside the output and outside it, whose contents are
    moved into `output` only if the block succeeds.

    A new output is the staging folder renamed. An existing one (empty, or not empty with
    --force) gets the rendered files written over it; nothing else in it is deleted.
    On failure nothing is left behind: neither the staging folder nor any parent folder
    of `output` created for it.
    """
    resolved = _checked_output(output, force=force, source=source)
    missing_parents = [parent for parent in resolved.parents if not parent.exists()]
    succeeded = False
    staging: Path | None = None
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
        staging = _make_staging_folder(resolved.parent, resolved.name)
        yield staging
        if resolved.exists():
            _refuse_kind_changes(staging, resolved)
            _move_into(staging, resolved)
        else:
            staging.rename(resolved)
        succeeded = True
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging)
        if not succeeded:
            for parent in missing_parents:  # innermost first
                try:
                    parent.rmdir()
                except OSError:
                    break


def _cmd_render(args: argparse.Namespace) -> int:
    template = Template.load(args.template)
    values = _load_mapping(args.values) if args.values else {}
    values.update(parse_assignments(args.set, known_parameters(template)))
    with _staged_output(args.output, force=args.force, source=template.path.parent) as staging:
        result = run_template(template, values, staging)
        # Only now are the skeletons known; --force into one would overwrite its templates.
        resolved = args.output.expanduser().resolve()
        for skeleton in template.skeletons:
            if skeleton == resolved or skeleton in resolved.parents or resolved in skeleton.parents:
                raise UsageError(f"{args.output}: refused, it overlaps the skeleton {skeleton}")
    for step in result.steps:
        print(f"step {step.id} ({step.action}): {step.status}")
    for link in result.output.get("links", []):
        target = link.get("url") or link.get("entityRef")
        # Links to what the skipped publish and register steps would create have no target.
        if target and target != DRY_RUN_EXAMPLE:
            print(f"link: {link.get('title', '')}: {target}")
    print(f"rendered into {args.output}")
    return 0


def _cmd_fetch_template(args: argparse.Namespace) -> int:
    values = _load_mapping(args.values)
    options = FetchTemplateOptions(
        target_path=args.target_path,
        copy_without_templating=args.copy_without_templating or None,
        template_file_extension=args.template_file_extension,
        trim_blocks=args.trim_blocks,
        lstrip_blocks=args.lstrip_blocks,
        replace=args.replace,
    )
    with _staged_output(args.output, force=args.force, source=args.skeleton) as staging:
        result = fetch_template(args.skeleton, staging, values, options)
    print(f"wrote {len(result.written)} entries into {args.output}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    template = Template.load(args.template)
    for page in template.pages:
        print(f"# {page.get('title', 'Parameters')}")
        required = set(page.get("required") or [])
        for name, schema in known_parameters(
            Template(template.path, {"spec": {"parameters": [page]}})
        ).items():
            parts = [f"type={schema.get('type', 'any')}"]
            if name in required:
                parts.append("required")
            if "default" in schema:
                parts.append(f"default={json.dumps(schema['default'])}")
            if "enum" in schema:
                parts.append("allowed=" + "|".join(str(option) for option in schema["enum"]))
            print(f"{name}: {schema.get('title', '')} ({', '.join(parts)})")
            # The form shows each option by its label; a value alone can mislead (orm=none
            # is SQLAlchemy Core, not "no data access").
            for option, label in zip(schema.get("enum") or [], schema.get("enumNames") or [], strict=False):
                print(f"    {option}: {label}")
            if "ui:help" in schema:
                print(f"    {' '.join(str(schema['ui:help']).split())}")
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    request = UpdateRequest(
        project=args.project,
        template=args.template_source,
        to=args.to,
        assignments=args.set,
        dry_run=args.dry_run,
    )
    return update(request, sys.stdout)


UPDATE_DESCRIPTION = """\
Merge a newer template version, or changed answers, into a generated service. Run it in the
service's git repository with a clean working tree. The template is rendered at the version
recorded in .template-answers.json and at the target, with the recorded answers (translated
first where the target's answer-migrations.yaml declares a parameter renamed or its values
changed; new parameters get their defaults, --set values apply), and the difference is
merged three ways: template changes are applied, the service's own changes kept,
overlapping changes left as conflict markers. The result is staged, not committed.

Exit status: 0 merged (or nothing to change); 1 merged with conflicts: the files are listed,
left with markers and unmerged in the index, and .template-answers.json is updated with the
merge, so committing the resolution records the new version and answers; 2 bad input
(not a generated service, uncommitted changes, unknown version or ref, a parameter the
target refuses, a bad answer migration or a recorded value it does not map, template not
reachable), nothing written. With --dry-run nothing is written and the status says whether
the merge would leave conflicts (1) or not (0). Needs git 2.38 or later."""


OUTPUT_HELP = (
    "folder to create; refused if it is or contains the current folder, the template folder, "
    "the home folder or /, or if it overlaps the skeleton"
)
FORCE_HELP = (
    "write into a non-empty output folder: each rendered file replaces the file at its path, "
    "nothing else in the folder is changed or deleted (files of an earlier render that this "
    "one does not write stay)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaffold", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="run the whole template (dry run, as Backstage)")
    render.add_argument(
        "--template", type=Path, default=None, help="template.yaml (default: ./template.yaml)"
    )
    render.add_argument("--values", type=Path, help="YAML or JSON file of parameter values")
    render.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one parameter")
    render.add_argument("--output", type=Path, required=True, help=OUTPUT_HELP)
    render.add_argument("--force", action="store_true", help=FORCE_HELP)
    render.set_defaults(handler=_cmd_render)

    fetch = commands.add_parser("fetch-template", help="run the fetch:template action alone")
    fetch.add_argument("skeleton", type=Path)
    fetch.add_argument("--values", type=Path, required=True, help="JSON or YAML file of values")
    fetch.add_argument("--output", type=Path, required=True, help=OUTPUT_HELP)
    fetch.add_argument("--copy-without-templating", action="append", metavar="GLOB")
    fetch.add_argument("--template-file-extension", metavar="EXT")
    fetch.add_argument("--trim-blocks", action="store_true")
    fetch.add_argument("--lstrip-blocks", action="store_true")
    fetch.add_argument("--target-path", default="./")
    fetch.add_argument("--replace", action="store_true")
    fetch.add_argument("--force", action="store_true", help=FORCE_HELP)
    fetch.set_defaults(handler=_cmd_fetch_template)

    updater = commands.add_parser(
        "update",
        help="merge a newer template version or changed answers into a generated service",
        description=UPDATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    updater.add_argument(
        "--template",
        dest="template_source",
        metavar="URL_OR_PATH",
        help="the template's git repository (default: the one in .template-answers.json)",
    )
    updater.add_argument(
        "--to", metavar="REF", help="tag, branch, commit or version (default: the highest vX.Y.Z tag)"
    )
    updater.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="change or add one answer"
    )
    updater.add_argument("--dry-run", action="store_true", help="print the change, write nothing")
    updater.add_argument("--project", type=Path, default=Path(), help="the service's repository (default: .)")
    updater.set_defaults(handler=_cmd_update)

    params = commands.add_parser("params", help="list the parameters, defaults and allowed values")
    params.add_argument("--template", type=Path, default=None)
    params.set_defaults(handler=_cmd_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "template", "unset") is None:
        args.template = _default_template()
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit where it prints a traceback
    except BrokenPipeError:  # `scaffold params | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (UsageError, TemplateInputError, FetchTemplateError, UpdateError) as error:
        print(f"scaffold: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except OSError as error:  # what the checks before writing could not foresee (a full disk, a race)
        where = f"{error.filename}: " if error.filename else ""
        print(f"scaffold: error: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_OS_ERROR
    except KeyboardInterrupt:  # the staging folder is already removed by then
        print("scaffold: interrupted, the output was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
