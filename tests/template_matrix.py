"""Parameter combinations of the real template.yaml, for conformance tests and benchmarks."""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from jinja2.exceptions import TemplateSyntaxError

from oracle import FetchJob, FetchOptions
from scaffold.fetch_template import Skeleton
from scaffold.nunjucks.scanner import scan
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


def backstage_job(
    job_id: str, step_input: dict[str, Any], workspace: Path, skeleton: Path = SKELETON_PATH
) -> FetchJob:
    """The Backstage fetch:template job for a fetch step input that scaffold rendered."""
    options = {key: item for key, item in step_input.items() if key not in ("url", "values")}
    return FetchJob(job_id, skeleton, workspace, step_input["values"], cast(FetchOptions, options))


# --- which values each skeleton file mentions --------------------------------------------

_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_VALUES_USE = re.compile(r"\bvalues\b(?:\s*\.\s*([A-Za-z_]\w*))?")
_COMPOSING_TAG = re.compile(r"^\s*(include|import|from|extends)\b")


def _mentioned_in(source: str) -> frozenset[str] | None:
    """The names ``source``'s tags read as ``values.<name>``; None when a tag could read any
    other value (``values`` whole or by a computed key, another template, or unscannable)."""
    try:
        tokens = scan(source)
    except TemplateSyntaxError:
        return None
    names: set[str] = set()
    for token in tokens:
        if token.kind == "text":
            continue
        if token.kind == "block" and _COMPOSING_TAG.match(token.value):
            return None
        for use in _VALUES_USE.finditer(_STRING_LITERAL.sub("''", token.value)):
            if use.group(1) is None:
                return None
            names.add(use.group(1))
    return frozenset(names)


def mentioned_values(skeleton: Skeleton, *, paths_only: bool = False) -> dict[str, frozenset[str] | None]:
    """For each file of ``skeleton``: the values its path and its text mention (None: any).

    A file renders from nothing else, so two submissions that agree on these values render
    it alike, in Backstage and in scaffold.
    """
    mentions: dict[str, frozenset[str] | None] = {}
    for entry in skeleton.entries:
        if entry.kind == "dir":
            continue
        in_path = _mentioned_in(entry.location)
        text = entry.content if isinstance(entry.content, str) and not paths_only else ""
        in_text = _mentioned_in(text)
        mentions[entry.location] = None if in_path is None or in_text is None else in_path | in_text
    return mentions


def projection(values: Mapping[str, Any], names: frozenset[str] | None) -> str:
    """The values named (all of them for None), as a key."""
    chosen = values if names is None else {name: values.get(name) for name in names}
    return json.dumps(chosen, sort_keys=True)


def first_seen_files(
    mentions: Mapping[str, frozenset[str] | None], renders: Sequence[Mapping[str, Any]]
) -> list[list[str]]:
    """For each render's values in turn, the files whose mentioned values no earlier render
    had: rendering only those covers every file under every value it can render from."""
    seen: set[tuple[str, str]] = set()
    picked = []
    for values in renders:
        keys = [(location, projection(values, names)) for location, names in mentions.items()]
        new = [key for key in keys if key not in seen]
        seen.update(new)
        picked.append([location for location, _ in new])
    return picked


# Choices that change what the tools target or what the catalog says, not how the service
# talks to its servers: they are spread evenly over the covering set instead of paired (every
# combination of them is still rendered and type-checked by the every-combination tests).
ROTATED = ("pythonVersion", "lifecycle")
COVER_SEEDS = 4
COVER_STEPS = 20_000


def pairwise_submissions(template: Template | None = None) -> list[dict[str, Any]]:
    """The defaults, then as few combinations as found that together cover every pair of two
    paired choices' values; the rotated choices take each of their values in turn."""
    cover = _cover(template) if template else _cover_of_the_template()
    return [dict(values) for values in cover]


@functools.cache
def _cover_of_the_template() -> list[dict[str, Any]]:
    """The repository's template's cover, searched once per process for every module."""
    return _cover(Template.load(TEMPLATE_PATH))


def _cover(template: Template) -> list[dict[str, Any]]:
    choices = choice_parameters(template)
    paired = sorted(name for name in choices if name not in ROTATED)
    candidates = list(
        {tuple(values.get(name) for name in paired): values for values in all_combinations(template)}.values()
    )
    defaults = resolve_parameters(template, BASE_VALUES)
    numbered: dict[tuple[str, Any, str, Any], int] = {}
    pair_sets = [
        tuple(numbered.setdefault(pair, len(numbered)) for pair in _pairs(values, paired))
        for values in candidates
    ]
    default_pairs = tuple(numbered[pair] for pair in _pairs(defaults, paired))
    rows = _covering_rows(pair_sets, default_pairs, len(numbered), _size_lower_bound(choices, paired))
    picked = [defaults]
    for index, row in enumerate(rows, start=1):
        rotated = {name: choices[name][index % len(choices[name])] for name in ROTATED}
        picked.append({**candidates[row], **rotated})
    return picked


def _pairs(values: dict[str, Any], names: list[str]) -> list[tuple[str, Any, str, Any]]:
    return [(a, values.get(a), b, values.get(b)) for a, b in itertools.combinations(names, 2)]


def _size_lower_bound(choices: dict[str, list[Any]], paired: list[str]) -> int:
    """No cover is smaller than the product of the two largest value counts (the orm's
    absence counts as one of its values)."""
    counts = sorted(len(choices[name]) + (name == "orm") for name in paired)
    return counts[-1] * counts[-2]


def _covering_rows(
    pair_sets: list[tuple[int, ...]], covered: tuple[int, ...], pair_count: int, size: int
) -> list[int]:
    """Indices of candidates that, with the pairs ``covered``, hold all ``pair_count`` pairs:
    a seeded local search for ``size`` rows in all, growing ``size`` until one is found."""
    while True:
        for seed in range(COVER_SEEDS):
            rows = _search_cover(pair_sets, covered, pair_count, size - 1, random.Random(seed))
            if rows is not None:
                return rows
        size += 1


def _search_cover(
    pair_sets: list[tuple[int, ...]],
    covered: tuple[int, ...],
    pair_count: int,
    size: int,
    rng: random.Random,
) -> list[int] | None:
    """Replace one row at a time by a random candidate, keeping the change unless it leaves
    more pairs uncovered (and, rarely, even then, to leave a local minimum)."""
    counts = [0] * pair_count
    missing = pair_count

    def add(pairs: tuple[int, ...], step: int) -> None:
        nonlocal missing
        for pair in pairs:
            if counts[pair] == 0:
                missing -= 1
            counts[pair] += step
            if counts[pair] == 0:
                missing += 1

    add(covered, 1)
    rows = [rng.randrange(len(pair_sets)) for _ in range(size)]
    for row in rows:
        add(pair_sets[row], 1)
    for _ in range(COVER_STEPS):
        if missing == 0:
            return rows
        position, replacement = rng.randrange(size), rng.randrange(len(pair_sets))
        before = missing
        add(pair_sets[rows[position]], -1)
        add(pair_sets[replacement], 1)
        if missing <= before or rng.random() < 0.02:
            rows[position] = replacement
        else:
            add(pair_sets[replacement], -1)
            add(pair_sets[rows[position]], 1)
    return None
