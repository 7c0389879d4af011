"""`scaffold`: render the Backstage template locally, exactly as Backstage would."""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from scaffold.fetch_template import FetchTemplateError, FetchTemplateOptions, fetch_template
from scaffold.workflow import Template, TemplateInputError, known_parameters, run_template

EXIT_INPUT_ERROR = 2
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
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise UsageError(f"{where}: malformed YAML: {problem}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: values file must contain a mapping of parameter names to values")
    return data


def _parse_set(assignments: Sequence[str], schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for assignment in assignments:
        name, separator, text = assignment.partition("=")
        if not separator or not name:
            raise UsageError(f"--set {assignment!r}: expected key=value")
        kind = schemas.get(name, {}).get("type")
        if kind == "boolean":
            if text not in ("true", "false"):
                raise UsageError(f"--set {name}: expected true or false, got {text!r}")
            values[name] = text == "true"
        elif kind in ("number", "integer"):
            try:
                values[name] = int(text) if kind == "integer" else float(text)
            except ValueError as error:
                raise UsageError(f"--set {name}: expected a {kind}, got {text!r}") from error
        else:
            values[name] = text
    return values


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
        return candidate
    raise UsageError(f"{parent}: cannot create a staging folder")


@contextmanager
def _staged_output(output: Path, *, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder that replaces `output` only if the block succeeds.

    On failure nothing is left behind: neither the staging folder nor any parent folder
    of `output` created for it.
    """
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not force:
        raise UsageError(f"{output}: folder is not empty (use --force to replace it)")
    missing_parents = [parent for parent in output.absolute().parents if not parent.exists()]
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = _make_staging_folder(output.parent, output.name)
    succeeded = False
    try:
        yield staging
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
        succeeded = True
    finally:
        if staging.exists():
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
    values.update(_parse_set(args.set, known_parameters(template)))
    with _staged_output(args.output, force=args.force) as staging:
        result = run_template(template, values, staging)
    for step in result.steps:
        print(f"step {step.id} ({step.action}): {step.status}")
    for link in result.output.get("links", []):
        target = link.get("url") or link.get("entityRef") or ""
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
    with _staged_output(args.output, force=args.force) as staging:
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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaffold", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="run the whole template (dry run, as Backstage)")
    render.add_argument(
        "--template", type=Path, default=None, help="template.yaml (default: ./template.yaml)"
    )
    render.add_argument("--values", type=Path, help="YAML or JSON file of parameter values")
    render.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one parameter")
    render.add_argument("--output", type=Path, required=True, help="folder to create")
    render.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    render.set_defaults(handler=_cmd_render)

    fetch = commands.add_parser("fetch-template", help="run the fetch:template action alone")
    fetch.add_argument("skeleton", type=Path)
    fetch.add_argument("--values", type=Path, required=True, help="JSON or YAML file of values")
    fetch.add_argument("--output", type=Path, required=True)
    fetch.add_argument("--copy-without-templating", action="append", metavar="GLOB")
    fetch.add_argument("--template-file-extension", metavar="EXT")
    fetch.add_argument("--trim-blocks", action="store_true")
    fetch.add_argument("--lstrip-blocks", action="store_true")
    fetch.add_argument("--target-path", default="./")
    fetch.add_argument("--replace", action="store_true")
    fetch.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    fetch.set_defaults(handler=_cmd_fetch_template)

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
        return handler(args)
    except (UsageError, TemplateInputError, FetchTemplateError) as error:
        print(f"scaffold: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
