"""Run a whole `template.yaml` the way Backstage's dry run does.

Parameters are checked against every form page's JSON Schema (as the scaffolder API
does before a task starts, after the form has filled its defaults), step inputs are
rendered like NunjucksWorkflowRunner renders them, `if:` is honoured, `fetch:template`
acts on the workspace, and actions that do not support dry run (publish, register) are
skipped with example outputs derived from their output schemas.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regress
import yaml
from jsonschema import Draft7Validator, ValidationError, validators

from scaffold.fetch_template import FetchTemplateError, FetchTemplateOptions, Skeleton, fetch_template
from scaffold.nunjucks import Renderer, RenderError, is_undefined, prepare_context
from scaffold.pattern_position import first_offending_index


class TemplateInputError(Exception):
    """Bad parameters or a template that cannot run; the message names what was wrong."""


# What a dry run puts in `steps.<id>.output` for actions it skips: an example built from
# the action's output schema (publish:github of plugin-scaffolder-backend-module-github
# 0.10.0); catalog:register declares no output schema in 4.2.0, so it gets nothing.
DRY_RUN_EXAMPLE = "<example>"
SKIPPED_ACTION_OUTPUTS: dict[str, dict[str, Any]] = {
    "publish:github": {
        "remoteUrl": DRY_RUN_EXAMPLE,
        "repoContentsUrl": DRY_RUN_EXAMPLE,
        "commitHash": DRY_RUN_EXAMPLE,
    },
    "catalog:register": {},
}


def describe_yaml_error(path: Path, error: yaml.YAMLError) -> str:
    """One line: the file and line, and the problem (PyYAML's own text spans several lines)."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = getattr(error, "problem", None) or " ".join(str(error).split())
    return f"{where}: malformed YAML: {problem}"


@dataclass
class StepReport:
    id: str
    action: str
    status: str  # "completed", "skipped (if)", "skipped (dry run)"
    input: Any = None


@dataclass
class WorkflowResult:
    parameters: dict[str, Any]
    steps: list[StepReport] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    path: Path
    document: dict[str, Any]
    # Skeletons are read once per Template, however many times it is rendered.
    skeletons: dict[Path, Skeleton] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path) -> Template:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise TemplateInputError(f"{path}: cannot read template: {error.strerror or error}") from error
        except yaml.YAMLError as error:
            raise TemplateInputError(describe_yaml_error(path, error)) from error
        if not isinstance(document, dict) or document.get("kind") != "Template":
            raise TemplateInputError(f"{path}: not a Backstage Template entity")
        if document.get("apiVersion") != "scaffolder.backstage.io/v1beta3":
            raise TemplateInputError(f"{path}: apiVersion must be scaffolder.backstage.io/v1beta3")
        return cls(path.resolve(), document)

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.document.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def pages(self) -> list[dict[str, Any]]:
        parameters = self.spec.get("parameters") or []
        return parameters if isinstance(parameters, list) else [parameters]


# --- parameters ----------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _ecmascript_regex(pattern: str) -> regress.Regex:
    """`new RegExp(pattern, 'u')`, or without the flag if that fails, as the `jsonschema`
    package of the scaffolder backend (and ajv in the form) compile `pattern`."""
    try:
        return regress.Regex(pattern, "u")
    except regress.RegressError:
        return regress.Regex(pattern)


def _ecmascript_pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """JSON Schema `pattern` with ECMAScript semantics, as Backstage checks parameters.

    Python's `re` differs where it matters for input checks: its `$` also matches before a
    final newline, so '^[a-z]+$' would accept "name\n". A string with an unpaired surrogate
    (which only a JSON escape can produce) cannot be handed to the engine and is refused.
    """
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = _ecmascript_regex(pattern).find(instance) is not None
    except UnicodeEncodeError:
        matched = False
    if not matched:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 7 as python-jsonschema implements it, with Backstage's regular expressions.
# (The stubs leave `extend` untyped; it returns a validator class like the one it extends.)
ParameterValidator: type[Draft7Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft7Validator, {"pattern": _ecmascript_pattern}
)


Condition = Callable[[dict[str, Any]], bool]


def _branches(page: Mapping[str, Any]) -> list[tuple[Condition, dict[str, Any]]]:
    """Conditional property groups of a page, each with the condition that enables it."""
    rules = list(page.get("allOf") or [])
    branches: list[tuple[Condition, dict[str, Any]]] = []
    for trigger, dependency in (page.get("dependencies") or {}).items():
        if isinstance(dependency, dict):
            branches += [(_selects(trigger, option), option) for option in dependency.get("oneOf") or []]
            rules += dependency.get("allOf") or []
    branches += [
        (ParameterValidator(rule["if"]).is_valid, rule.get("then") or {}) for rule in rules if "if" in rule
    ]
    return branches


def _selects(trigger: str, option: Mapping[str, Any]) -> Condition:
    """A `oneOf` dependency branch applies when the triggering value matches its schema there."""
    selector = (option.get("properties") or {}).get(trigger, {})
    return ParameterValidator({"properties": {trigger: selector}, "required": [trigger]}).is_valid


def known_parameters(template: Template) -> dict[str, dict[str, Any]]:
    """Every parameter any page can ask for, with its schema."""
    known: dict[str, dict[str, Any]] = {}
    for page in template.pages:
        known.update(page.get("properties") or {})
        for _, branch in _branches(page):
            # A branch repeats the property it depends on (to select the branch); keep the
            # page's own definition of that one.
            for name, rule in (branch.get("properties") or {}).items():
                known.setdefault(name, rule)
    return known


def resolve_parameters(template: Template, submitted: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults as the form does, then validate every page as the API does."""
    known = known_parameters(template)
    unknown = sorted(set(submitted) - set(known))
    if unknown:
        raise TemplateInputError(
            f"unknown parameter {unknown[0]!r}; the template accepts: {', '.join(sorted(known))}"
        )
    values = dict(submitted)
    for page in template.pages:
        _fill_defaults(page.get("properties") or {}, values)
        for condition, branch in _branches(page):
            if condition(values):
                _fill_defaults(branch.get("properties") or {}, values)
    for page in template.pages:
        errors = list(ParameterValidator(page).iter_errors(values))
        if errors:
            raise TemplateInputError(_describe_error(_most_specific(errors), page, known))
    return values


def parse_assignments(assignments: Sequence[str], schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`--set key=value` options, each value typed by its parameter's schema (text if unknown)."""
    values: dict[str, Any] = {}
    for assignment in assignments:
        name, separator, text = assignment.partition("=")
        if not separator or not name:
            raise TemplateInputError(f"--set {assignment!r}: expected key=value")
        kind = schemas.get(name, {}).get("type")
        if kind == "boolean":
            if text not in ("true", "false"):
                raise TemplateInputError(f"--set {name}: expected true or false, got {text!r}")
            values[name] = text == "true"
        elif kind in ("number", "integer"):
            try:
                values[name] = int(text) if kind == "integer" else float(text)
            except ValueError as error:
                raise TemplateInputError(f"--set {name}: expected a {kind}, got {text!r}") from error
        else:
            values[name] = text
    return values


def _fill_defaults(properties: Mapping[str, Any], values: dict[str, Any]) -> None:
    for name, rule in properties.items():
        if name not in values and isinstance(rule, dict) and "default" in rule:
            values[name] = copy.deepcopy(rule["default"])


def _most_specific(errors: list[ValidationError]) -> ValidationError:
    """Prefer an error about one parameter over a whole-page one (oneOf, dependencies)."""
    about_a_field = [error for error in errors if error.path]
    if about_a_field:
        return about_a_field[0]
    nested = [child for error in errors for child in error.context or []]
    return _most_specific(nested) if nested else errors[0]


def _describe_error(error: ValidationError, page: Mapping[str, Any], known: dict[str, dict[str, Any]]) -> str:
    """One line naming the parameter and the rule it breaks."""
    name = ".".join(str(part) for part in error.path)
    rule = str(error.validator)
    if rule == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"parameter {missing!r} is required (form page {page.get('title', '?')!r})"
    schema = known.get(name, {})
    details = {
        "enum": lambda: (
            "allowed values are " + ", ".join(map(str, schema.get("enum", error.validator_value)))
        ),
        "pattern": lambda: _describe_pattern_break(str(error.instance), str(error.validator_value), schema),
        "maxLength": lambda: f"at most {error.validator_value} characters, got {len(str(error.instance))}",
        "minLength": lambda: f"at least {error.validator_value} characters",
        "not": lambda: "it is a reserved value. " + str(schema.get("ui:help", "")),
        "type": lambda: f"expected a {error.validator_value}",
    }.get(rule, lambda: error.message)()
    return f"parameter {name or '(form)'!r}: {error.instance!r} breaks the {rule} rule: {details}"


def _describe_pattern_break(value: str, pattern: str, schema: Mapping[str, Any]) -> str:
    """Where `value` breaks `pattern`, in words, and the field's own help for the rules."""
    index = first_offending_index(pattern, value)
    if index is None:
        where = f"it must match {pattern}"  # a pattern the locator cannot read: show it
    elif index < len(value):
        where = f"character {index + 1} ({value[index]!r}) is not allowed there"
    elif value:
        where = f"it cannot end with character {index} ({value[-1]!r})"
    else:
        where = "it cannot be empty"
    rules = schema.get("ui:help") or schema.get("description")
    return f"{where}. {rules}" if rules else where


# --- steps -----------------------------------------------------------------------------


def _is_truthy(value: Any) -> bool:
    """lodash-based `isTruthy` of the workflow runner."""
    if isinstance(value, list):
        return len(value) > 0
    if is_undefined(value) or value is None or value is False or value in ("", 0):
        return False
    return not (isinstance(value, float) and math.isnan(value))


class _Missing:
    """A key whose lone expression rendered undefined: JSON.parse's reviver drops it."""


_MISSING = _Missing()


def render_input(value: Any, renderer: Renderer, context: dict[str, Any]) -> Any:
    """`NunjucksWorkflowRunner.render`: each string is rendered, lone expressions keep types."""
    if isinstance(value, str):
        try:
            rendered = renderer.render_value(value, context)
        except RenderError:
            return value  # Backstage keeps a string whose rendering fails, silently
        return _MISSING if is_undefined(rendered) else _plain(rendered)
    if isinstance(value, list):
        items = [render_input(item, renderer, context) for item in value]
        return [None if item is _MISSING else item for item in items]
    if isinstance(value, dict):
        rendered_items = {key: render_input(item, renderer, context) for key, item in value.items()}
        return {key: item for key, item in rendered_items.items() if item is not _MISSING}
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [None if is_undefined(item) else _plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if not is_undefined(item)}
    return value


def _filter_conditional(items: list[Any]) -> list[Any]:
    kept = []
    for item in items:
        if isinstance(item, dict) and "if" in item:
            if _is_truthy(item["if"]):
                kept.append({key: value for key, value in item.items() if key != "if"})
        else:
            kept.append(item)
    return kept


def run_template(template: Template, submitted: Mapping[str, Any], workspace: Path) -> WorkflowResult:
    """Validate parameters and run every step that acts on the workspace."""
    parameters = resolve_parameters(template, submitted)
    result = WorkflowResult(parameters=parameters)
    renderer = Renderer()
    raw_context: dict[str, Any] = {
        "parameters": parameters,
        "steps": {},
        "user": {},
        "secrets": {},
        "environment": {"parameters": {}, "secrets": {}},
        "context": {"task": {"id": "dry-run"}},
    }
    context = prepare_context(raw_context)
    for step in template.spec.get("steps") or []:
        step_id, action = str(step.get("id", "")), str(step.get("action", ""))
        condition = step.get("if")
        if condition is False or (
            isinstance(condition, str) and not _is_truthy(render_input(condition, renderer, context))
        ):
            result.steps.append(StepReport(step_id, action, "skipped (if)"))
            continue
        step_input = render_input(step.get("input") or {}, renderer, context)
        if action in SKIPPED_ACTION_OUTPUTS:
            output = dict(SKIPPED_ACTION_OUTPUTS[action])
            result.steps.append(StepReport(step_id, action, "skipped (dry run)", step_input))
        elif action == "fetch:template":
            _run_fetch_template(template, step_id, step_input, workspace)
            output = {}
            result.steps.append(StepReport(step_id, action, "completed", step_input))
        else:
            raise TemplateInputError(
                f"step {step_id!r}: action {action!r} is not supported by the local renderer"
            )
        raw_context["steps"][step_id] = {"output": output}
        context = prepare_context(raw_context)
    output = render_input(template.spec.get("output") or {}, renderer, context)
    if isinstance(output, dict):
        for key in ("links", "text"):
            if isinstance(output.get(key), list):
                output[key] = _filter_conditional(output[key])
        result.output = output
    return result


def _run_fetch_template(template: Template, step_id: str, step_input: Any, workspace: Path) -> None:
    if not isinstance(step_input, dict) or not isinstance(step_input.get("url"), str):
        raise TemplateInputError(f"step {step_id!r}: fetch:template needs a string input 'url'")
    url = step_input["url"]
    if "://" in url:
        raise TemplateInputError(
            f"step {step_id!r}: only skeletons next to template.yaml can be rendered locally"
        )
    location = (template.path.parent / url).resolve()
    values = step_input.get("values") or {}
    try:
        if location not in template.skeletons:
            template.skeletons[location] = Skeleton.load(location)
        fetch_template(
            template.skeletons[location], workspace, values, FetchTemplateOptions.from_input(step_input)
        )
    except FetchTemplateError as error:
        raise TemplateInputError(f"step {step_id!r}: {error}") from error
