"""The covering set of submissions that the generated suites run is what it claims to be."""

from __future__ import annotations

import itertools

from scaffold.workflow import Template, resolve_parameters
from template_matrix import (
    BASE_VALUES,
    ROTATED,
    TEMPLATE_PATH,
    all_combinations,
    choice_parameters,
    combination_id,
    pairwise_submissions,
)

TEMPLATE = Template.load(TEMPLATE_PATH)
COVER = pairwise_submissions(TEMPLATE)
PAIRED = sorted(name for name in choice_parameters(TEMPLATE) if name not in ROTATED)


def test_the_cover_starts_with_the_defaults() -> None:
    assert COVER[0] == resolve_parameters(TEMPLATE, BASE_VALUES)


def test_every_pair_of_paired_values_that_the_form_allows_is_covered() -> None:
    def pairs(values: dict[str, object]) -> set[tuple[str, object, str, object]]:
        return {(a, values.get(a), b, values.get(b)) for a, b in itertools.combinations(PAIRED, 2)}

    allowed = set().union(*(pairs(values) for values in all_combinations(TEMPLATE)))
    covered = set().union(*(pairs(values) for values in COVER))

    assert allowed - covered == set()
    assert covered <= allowed


def test_every_rotated_value_is_run() -> None:
    for name in ROTATED:
        assert {values[name] for values in COVER} == set(choice_parameters(TEMPLATE)[name])


def test_each_submission_is_one_the_form_can_make_and_appears_once() -> None:
    every = {combination_id(values) for values in all_combinations(TEMPLATE)}
    ids = [combination_id(values) for values in COVER]

    assert set(ids) <= every
    assert len(ids) == len(set(ids))


def test_the_cover_is_at_most_one_row_above_the_smallest_possible() -> None:
    # No cover is smaller than the pairs of the two largest choices.
    counts = sorted(len({values.get(name) for values in all_combinations(TEMPLATE)}) for name in PAIRED)
    assert len(COVER) <= counts[-1] * counts[-2] + 1
