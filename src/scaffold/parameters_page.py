"""Generate the TechDocs parameters reference (``docs/parameters.md``) from ``template.yaml``.

The text comes from the form itself (titles, descriptions, help, defaults, rules, allowed
values and their labels). Which files each choice adds, and which files change with a
choice, come from rendering every combination of the form's choices with this renderer and
comparing the results, so the page cannot drift from the skeleton either::

    uv run python -m scaffold.parameters_page --output docs/parameters.md

``tests/test_docs_template.py`` regenerates the page and fails when it differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold.workflow import Template, _branches, run_template

REPOSITORY = Path(__file__).resolve().parents[2]
# The text values every combination is rendered with; the package path is shown as <package>.
SAMPLE_VALUES = {
    "name": "orders-api",
    "description": "Orders",
    "owner": "group:default/platform-team",
    "repoUrl": "github.com?owner=acme&repo=orders-api",
}
PACKAGE_PATH = "src/orders_api/"
PACKAGE_PLACEHOLDER = "src/<package>/"

Combination = dict[str, Any]
Files = dict[str, str]  # path -> digest of the content


@dataclass(frozen=True)
class ChoiceParameter:
    """An enum or boolean parameter; ``only_when`` is the page's condition for asking it."""

    name: str
    values: list[Any]
    only_when: tuple[str, list[Any]] | None


def choice_parameters(template: Template) -> list[ChoiceParameter]:
    """Every enum or boolean parameter of the form, in form order."""
    found: list[ChoiceParameter] = []
    for page in template.pages:
        for name, schema in (page.get("properties") or {}).items():
            if _choices(schema):
                found.append(ChoiceParameter(name, _choices(schema), None))
        for _, branch in _branches(page):
            properties = branch.get("properties") or {}
            for name, schema in properties.items():
                if name in (page.get("properties") or {}) or not _choices(schema):
                    continue
                triggers = [
                    (trigger, list(rule["enum"]))
                    for trigger, rule in properties.items()
                    if trigger in (page.get("properties") or {}) and "enum" in rule
                ]
                (trigger,) = triggers
                found.append(ChoiceParameter(name, _choices(schema), trigger))
    return found


def _choices(schema: Mapping[str, Any]) -> list[Any]:
    if "enum" in schema:
        return list(schema["enum"])
    if schema.get("type") == "boolean":
        return [True, False]
    return []


def combinations(parameters: Sequence[ChoiceParameter]) -> Iterator[Combination]:
    """Each distinct submission of choices (a dependent parameter only where it is asked)."""
    independent = [parameter for parameter in parameters if parameter.only_when is None]
    dependent = [parameter for parameter in parameters if parameter.only_when is not None]
    for chosen in itertools.product(*(parameter.values for parameter in independent)):
        values = {parameter.name: value for parameter, value in zip(independent, chosen, strict=True)}
        asked = [
            parameter
            for parameter in dependent
            if parameter.only_when and values[parameter.only_when[0]] in parameter.only_when[1]
        ]
        for extra in itertools.product(*(parameter.values for parameter in asked)):
            yield values | {parameter.name: value for parameter, value in zip(asked, extra, strict=True)}


def render_files(template: Template, values: Combination) -> Files:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        run_template(template, {**SAMPLE_VALUES, **values}, root)
        return {
            path.relative_to(root).as_posix().replace(PACKAGE_PATH, PACKAGE_PLACEHOLDER): hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
            for path in root.rglob("*")
            if path.is_file()
        }


@functools.cache
def _load(path: Path) -> Template:
    return Template.load(path)


def _render_files_at(path: Path, values: Combination) -> Files:
    return render_files(_load(path), values)


@dataclass(frozen=True)
class FileReport:
    """For each parameter: the files each value adds, and the files whose content it changes."""

    added: dict[str, dict[str, list[str]]]  # parameter -> json(value) -> paths
    changed: dict[str, list[str]]  # parameter -> paths
    # Files a value adds only together with other choices: parameter -> json(value) ->
    # (path, the other choices, e.g. "`database` `dynamodb`").
    added_with: dict[str, dict[str, list[tuple[str, str]]]] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(cls, template: Template) -> FileReport:
        parameters = choice_parameters(template)
        every = list(combinations(parameters))
        # Hundreds of renders: one process per CPU, each loading the template once.
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
            files = pool.map(_render_files_at, [template.path] * len(every), every, chunksize=16)
            rendered = list(zip(every, files, strict=True))
        every_file = set().union(*(files for _, files in rendered))
        always = _common([set(files) for _, files in rendered])
        added: dict[str, dict[str, list[str]]] = {}
        changed: dict[str, list[str]] = {}
        accounted: set[str] = set()
        for parameter in parameters:
            added[parameter.name] = {}
            asked = [(values, files) for values, files in rendered if parameter.name in values]
            for value in parameter.values:
                with_value = [set(files) for values, files in asked if values[parameter.name] == value]
                present = _common(with_value) - always
                # Files every other value also has are not what this value adds.
                others = [set(files) for values, files in asked if values[parameter.name] != value]
                present -= _common(others)
                accounted |= present
                added[parameter.name][json.dumps(value)] = _collapse(present, every_file)
            changed[parameter.name] = _changed_by(parameter, parameters, rendered)
        added_with = _added_with_others(parameters, rendered, every_file - always - accounted)
        return cls(added, changed, added_with)


def _added_with_others(
    parameters: Sequence[ChoiceParameter], rendered: list[tuple[Combination, Files]], paths: set[str]
) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """For each path no single choice adds: the values it needs (each render that has it has
    that value), each with the other parameters' values it needs as well."""
    found: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for path in sorted(paths):
        having = [values for values, files in rendered if path in files]
        needed = {
            parameter.name: values[parameter.name]
            for parameter in parameters
            if all(parameter.name in values for values in having)
            and len({json.dumps(values[parameter.name]) for values in having}) == 1
            for values in having[:1]
        }
        if not needed:
            raise ValueError(f"present for no choice: {path}")
        for name, value in needed.items():
            others = []
            for parameter in parameters:
                if parameter.name == name:
                    continue
                present = [
                    v for v in parameter.values if any(values.get(parameter.name) == v for values in having)
                ]
                if present and len(present) < len(parameter.values):  # none: not asked
                    others.append(f"{parameter.name} " + " or ".join(_code(v) for v in present))
            found.setdefault(name, {}).setdefault(json.dumps(value), []).append((path, ", ".join(others)))
    return found


def _changed_by(
    parameter: ChoiceParameter,
    parameters: Sequence[ChoiceParameter],
    rendered: list[tuple[Combination, Files]],
) -> list[str]:
    """Files present in two combinations that differ only in ``parameter`` (and in what
    depends on it) whose contents differ."""
    tied = {parameter.name} | {
        other.name for other in parameters if other.only_when and other.only_when[0] == parameter.name
    }
    groups: dict[str, list[Files]] = {}
    for values, files in rendered:
        if parameter.name in values:
            others = {name: value for name, value in values.items() if name not in tied}
            key = json.dumps(others, sort_keys=True)
            groups.setdefault(key, []).append(files)
    changed: set[str] = set()
    for group in groups.values():
        for path in _common([set(files) for files in group]):
            if len({files[path] for files in group}) > 1:
                changed.add(path)
    return sorted(changed)


def _common(sets: list[set[str]]) -> set[str]:
    """The paths every set has (none for no sets)."""
    return set.intersection(*sets) if sets else set()


def _collapse(paths: set[str], every_file: set[str]) -> list[str]:
    """``paths`` with each folder whose files (in every rendering) are all in ``paths``
    written once as ``folder/``."""
    shown: set[str] = set()
    for path in paths:
        parts = path.split("/")
        entry = path
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth]) + "/"
            if all(other in paths for other in every_file if other.startswith(folder)):
                entry = folder
                break
        shown.add(entry)
    return sorted(shown)


# --- The page ---------------------------------------------------------------------------


def _code(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, bool) else str(value)
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _paths(paths: Sequence[str]) -> str:
    return ", ".join(f"`{path}`" for path in paths) if paths else "nothing"


def render_page(template: Template, report: FileReport) -> str:
    """The Markdown of the page."""
    parameters = {parameter.name: parameter for parameter in choice_parameters(template)}
    lines = [
        "# Parameters reference",
        "",
        "<!-- Generated from template.yaml by `uv run python -m scaffold.parameters_page --output",
        "docs/parameters.md`; do not edit by hand. -->",
        "",
        "The form of the **" + template.document["metadata"]["title"] + "** template, page by page.",
        "Each parameter shows its title in the form, the name under which `scaffold render --set`",
        "and the template's steps know it, its rules and its default. For each choice, *Adds*",
        "lists the files that only that choice puts into the new service (`<package>` is the",
        "service name with `-` replaced by `_`); *Changes* lists the files whose content",
        "depends on the choice. Both are found by rendering every combination of choices.",
        "",
    ]
    for page in template.pages:
        lines += [f"## {page['title']}", "", str(page.get("description", "")).strip(), ""]
        required = set(page.get("required") or [])
        properties = dict(page.get("properties") or {})
        for _, branch in _branches(page):
            for name, schema in (branch.get("properties") or {}).items():
                properties.setdefault(name, schema)
                required |= set(branch.get("required") or [])
        for name, schema in properties.items():
            lines += _parameter(
                name,
                schema=schema,
                required=name in required,
                choice=parameters.get(name),
                report=report,
                properties=properties,
            )
    return "\n".join(lines).rstrip() + "\n"


def _parameter(
    name: str,
    *,
    schema: Mapping[str, Any],
    required: bool,
    choice: ChoiceParameter | None,
    report: FileReport,
    properties: Mapping[str, Any],
) -> list[str]:
    lines = [f"### {schema['title']}", "", str(schema.get("description", "")).strip(), ""]
    facts = [f"- Parameter: `{name}` ({schema.get('type', 'string')})"]
    facts.append(f"- Required: {'yes' if required else 'no'}")
    if "default" in schema:
        facts.append(f"- Default: {_code(schema['default'])}")
    if choice is not None and choice.only_when is not None:
        trigger, allowed = choice.only_when
        labels = [_label(properties[trigger], value) for value in allowed]
        facts.append(f"- Asked only when {properties[trigger]['title']} is {' or '.join(labels)}")
    if "pattern" in schema:
        facts.append(f"- Pattern: `{schema['pattern']}`")
    if "maxLength" in schema:
        facts.append(f"- At most {schema['maxLength']} characters")
    if "ui:field" in schema:
        facts.append(f"- Form field: `{schema['ui:field']}`")
    options = schema.get("ui:options") or {}
    kinds = (options.get("catalogFilter") or {}).get("kind")
    if kinds:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        facts.append(f"- Offers catalog entities of kind {' or '.join(kinds)}")
    if options.get("allowedHosts"):
        facts.append(f"- Allowed hosts: {', '.join(f'`{host}`' for host in options['allowedHosts'])}")
    lines += [*facts, ""]
    if "ui:help" in schema:
        lines += [f"Help text: {' '.join(str(schema['ui:help']).split())}", ""]
    refused = (schema.get("not") or {}).get("enum")
    if refused:
        lines += [
            f'??? note "The {len(refused)} names that are refused"',
            "",
            "    " + ", ".join(f"`{value}`" for value in refused),
            "",
        ]
    if choice is not None:
        lines += ["| Value | Shown in the form as | Adds |", "| --- | --- | --- |"]
        for value in choice.values:
            added = _paths(report.added[name][json.dumps(value)])
            with_others = report.added_with.get(name, {}).get(json.dumps(value), [])
            if with_others:
                together = "; ".join(f"`{path}` (with {others})" for path, others in with_others)
                added = together if added == "nothing" else f"{added}; {together}"
            lines.append(f"| {_code(value)} | {_cell(_label(schema, value))} | {_cell(added)} |")
        lines += ["", f"Changes: {_paths(report.changed[name])}.", ""]
    return lines


def _label(schema: Mapping[str, Any], value: Any) -> str:
    names = schema.get("enumNames")
    if names and "enum" in schema:
        return str(names[list(schema["enum"]).index(value)])
    return "checked" if value is True else "unchecked" if value is False else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=REPOSITORY / "template.yaml")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    arguments = parser.parse_args(argv)
    template = Template.load(arguments.template)
    page = render_page(template, FileReport.build(template))
    if arguments.output is None:
        sys.stdout.write(page)
    else:
        arguments.output.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
