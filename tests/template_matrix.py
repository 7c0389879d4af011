"""Parameter combinations of the real template.yaml, for conformance tests and benchmarks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from oracle import FetchJob, FetchOptions
from scaffold.workflow import Template, known_parameters, resolve_parameters

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"
SKELETON_PATH = ROOT / "skeleton"

BASE_VALUES: dict[str, Any] = {
    "name": "orders-api",
    "description": "Orders: the \"source of truth\" for #orders, ünïcode and 'quotes'",
    "owner": "group:default/platform-team",
    "repoUrl": "github.com?owner=acme&repo=orders-api",
}
AURORA = ("aurora-postgresql", "aurora-mysql")


def choice_parameters(template: Template) -> dict[str, list[Any]]:
    """Every enum or boolean parameter with all of its allowed values."""
    choices: dict[str, list[Any]] = {}
    for name, schema in known_parameters(template).items():
        if "enum" in schema:
            choices[name] = list(schema["enum"])
        elif schema.get("type") == "boolean":
            choices[name] = [True, False]
    return choices


def all_combinations(template: Template | None = None) -> Iterator[dict[str, Any]]:
    """Each distinct submission the form can make (orm is only asked for Aurora)."""
    template = template or Template.load(TEMPLATE_PATH)
    choices = choice_parameters(template)
    orm_choices = choices.pop("orm")
    names = sorted(choices)
    for combination in itertools.product(*(choices[name] for name in names)):
        values = dict(zip(names, combination, strict=True))
        for orm in orm_choices if values["database"] in AURORA else [None]:
            submitted = {**BASE_VALUES, **values}
            if orm is not None:
                submitted["orm"] = orm
            yield submitted


def combination_id(values: dict[str, Any]) -> str:
    keys = (
        "database",
        "orm",
        "cache",
        "taskQueue",
        "events",
        "auth",
        "tracing",
        "pythonVersion",
        "lifecycle",
    )
    return "-".join(str(values[key]) for key in keys if key in values)


def backstage_job(job_id: str, step_input: dict[str, Any], workspace: Path) -> FetchJob:
    """The Backstage fetch:template job for a fetch step input that scaffold rendered."""
    options = {key: item for key, item in step_input.items() if key not in ("url", "values")}
    return FetchJob(job_id, SKELETON_PATH, workspace, step_input["values"], cast(FetchOptions, options))


def pairwise_submissions(template: Template | None = None) -> list[dict[str, Any]]:
    """The defaults, then combinations that together cover every pair of two choices' values."""
    template = template or Template.load(TEMPLATE_PATH)
    combinations = list(all_combinations(template))
    choices = sorted(choice_parameters(template))

    def pairs(values: dict[str, Any]) -> set[tuple[str, Any, str, Any]]:
        return {(a, values.get(a), b, values.get(b)) for a in choices for b in choices if a < b}

    uncovered = set().union(*(pairs(values) for values in combinations))
    picked = [resolve_parameters(template, BASE_VALUES)]
    uncovered -= pairs(picked[0])
    while uncovered:
        best = max(combinations, key=lambda values: len(pairs(values) & uncovered))
        uncovered -= pairs(best)
        picked.append(best)
    return picked
