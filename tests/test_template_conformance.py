"""The real template rendered by scaffold and by Backstage's own code: zero differences."""

from __future__ import annotations

import dataclasses
import functools
import random
import shutil
import string
import tempfile
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import (
    diff_trees,
    dry_run,
    fetch_template_batch,
    snapshot_tree,
    validate_entities,
)
from scaffold.fetch_template import (
    FetchTemplateError,
    FetchTemplateOptions,
    Skeleton,
    _is_skipped,
    fetch_template,
)
from scaffold.nunjucks.renderer import Renderer, prepare_context
from scaffold.workflow import Template, TemplateInputError, run_template
from template_matrix import (
    BASE_VALUES,
    SKELETON_PATH,
    TEMPLATE_PATH,
    all_combinations,
    backstage_job,
    combination_id,
    first_seen_files,
    mentioned_values,
    pairwise_submissions,
    projection,
)

FETCH_STEP = "fetchSkeleton"


def _render_locally(template: Template, values: dict[str, Any], workspace: Path) -> dict[str, Any]:
    """Run the template with scaffold; return the fetch step's rendered input."""
    workspace.mkdir(parents=True)
    result = run_template(template, values, workspace)
    (step,) = (step for step in result.steps if step.id == FETCH_STEP)
    assert isinstance(step.input, dict)
    return step.input


def _compare_with_fetch_template(
    template: Template, submissions: list[dict[str, Any]], root: Path
) -> list[str]:
    jobs, problems = [], []
    for index, values in enumerate(submissions):
        step_input = _render_locally(template, values, root / "python" / str(index))
        jobs.append(backstage_job(str(index), step_input, root / "backstage" / str(index)))
    for job, result in zip(jobs, fetch_template_batch(jobs), strict=True):
        if not result.ok:
            problems.append(f"{job.id}: Backstage failed: {result.error}")
            continue
        differences = diff_trees(job.workspace, root / "python" / job.id, a_name="backstage", b_name="python")
        problems += [f"{combination_id(submissions[int(job.id)])}: {line}" for line in differences]
    return problems


def _without_files(template: Template) -> Template:
    """``template`` with an empty skeleton: a run renders the steps' inputs and writes nothing."""
    skeleton = Skeleton.load(SKELETON_PATH)
    template.skeletons[skeleton.root] = dataclasses.replace(skeleton, entries=())
    return template


def _partial_skeleton(skeleton: Skeleton, files: list[str], root: Path) -> Skeleton:
    """A copy of ``files`` (with their folders) under ``root``, and the same as scaffold reads it."""
    for location in files:
        (root / location).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(skeleton.root / location, root / location)
    return Skeleton.load(root)


@functools.cache
def _fetch_inputs() -> list[dict[str, Any]]:
    """The fetch step's input for every combination, in order."""
    template = _without_files(Template.load(TEMPLATE_PATH))
    with tempfile.TemporaryDirectory() as workspace:
        runs = [run_template(template, values, Path(workspace)) for values in all_combinations(template)]
    inputs = [step.input for run in runs for step in run.steps if step.id == FETCH_STEP]
    assert all(isinstance(step_input, dict) for step_input in inputs)
    return cast(list[dict[str, Any]], inputs)


def test_every_combination_renders_like_backstage(tmp_path: Path) -> None:
    """Each combination's files render alike in scaffold and in Backstage's fetch:template.

    A file renders from the values its path and text mention and nothing else, so each file
    is rendered for each distinct set of those values, by the first combination that has it:
    the first job is the whole skeleton, later ones only the files they render differently.
    """
    skeleton = Skeleton.load(SKELETON_PATH)
    submissions = list(all_combinations())
    assert len(submissions) >= 400  # 6 database/orm pairs x the other choices
    steps = _fetch_inputs()
    mentions = mentioned_values(skeleton)
    renders = first_seen_files(mentions, [step["values"] for step in steps])
    assert len(renders[0]) == len(mentions)
    # What the README says this saves: under a twentieth of the files of whole renders.
    assert sum(map(len, renders)) < len(steps) * len(mentions) / 20

    jobs, problems = [], []
    for index, (step, files) in enumerate(zip(steps, renders, strict=True)):
        partial = _partial_skeleton(skeleton, files, tmp_path / "skeletons" / str(index) / "skeleton")
        ours = tmp_path / "python" / str(index)
        try:
            fetch_template(partial, ours, step["values"], FetchTemplateOptions.from_input(step))
        except FetchTemplateError as error:
            problems.append(f"{combination_id(submissions[index])}: scaffold failed: {error}")
        jobs.append(backstage_job(str(index), step, tmp_path / "backstage" / str(index), partial.root))
    for job, result in zip(jobs, fetch_template_batch(jobs), strict=True):
        where = combination_id(submissions[int(job.id)])
        if not result.ok:
            problems.append(f"{where}: Backstage failed: {result.error}")
            continue
        differences = diff_trees(
            job.workspace, tmp_path / "python" / job.id, a_name="Backstage", b_name="scaffold"
        )
        problems += [f"{where}: {line}" for line in differences]
    assert not problems, "\n".join(problems[:20])


def test_no_two_files_render_to_one_path_in_any_combination() -> None:
    """Backstage keeps the first of two files that render to one path, which the jobs above,
    each holding only some of the files, would not show."""
    skeleton = Skeleton.load(SKELETON_PATH)
    mentions = mentioned_values(skeleton, paths_only=True)
    rendered: dict[tuple[str, str], str] = {}
    clashes = set()
    for step in _fetch_inputs():
        renderer = Renderer(trim_blocks=step["trimBlocks"], lstrip_blocks=step["lstripBlocks"])
        context = prepare_context({"values": step["values"]})
        claimed: dict[str, str] = {}
        for location, names in mentions.items():
            key = (location, projection(step["values"], names))
            if key not in rendered:
                rendered[key] = renderer.render(location, context)
            path = rendered[key]
            # A file whose name renders empty renders to its folder's path: nothing is written.
            written = not _is_skipped(path) and not path.endswith("/")
            if written and claimed.setdefault(path, location) != location:
                clashes.add((claimed[path], location, path))

    assert len(rendered) > len(mentions)
    assert not clashes, sorted(clashes)[:5]


PAIRWISE = pairwise_submissions()


@pytest.mark.parametrize("values", PAIRWISE, ids=[combination_id(values) for values in PAIRWISE])
def test_whole_template_matches_backstage_dry_run(values: dict[str, Any], tmp_path: Path) -> None:
    template = Template.load(TEMPLATE_PATH)
    ours = run_template(template, values, tmp_path / "python")
    # The form fills defaults before submitting; the server checks what it receives.
    theirs = dry_run(TEMPLATE_PATH, ours.parameters, tmp_path / "backstage")
    assert theirs.ok, theirs.error or theirs.errors
    assert [(step.id, step.skipped) for step in theirs.steps] == [
        (step.id, step.status != "completed") for step in ours.steps
    ]
    backstage_inputs = {step.id: step.input for step in theirs.steps}
    for step in ours.steps:
        assert step.input == backstage_inputs[step.id], f"rendered input of step {step.id}"
    assert ours.output == theirs.output
    # The dry run transports files without modes or symlinks: compare paths and contents.
    backstage_files = {
        path: entry[1] for path, entry in snapshot_tree(tmp_path / "backstage").items() if entry[0] == "file"
    }
    python_files = {
        path: entry[1] for path, entry in snapshot_tree(tmp_path / "python").items() if entry[0] == "file"
    }
    assert backstage_files == python_files


def test_template_and_catalog_files_pass_backstage_validators() -> None:
    # A rendered service's catalog-info.yaml holds a $text placeholder, which the catalog
    # resolves before it validates: tests/test_catalog_entities.py registers every variant
    # through the catalog's own processing, validation included.
    results = validate_entities([TEMPLATE_PATH, TEMPLATE_PATH.parent / "catalog-info.yaml"])
    failures = [
        f"{result.file}#{result.index} ({result.kind}): {result.error}" for result in results if not result.ok
    ]
    assert not failures, "\n".join(failures)
    assert [result.kind for result in results] == ["Template", "Location", "Component"]


# --- property-based values --------------------------------------------------------------

FREE_TEXT = string.ascii_letters + string.digits + " \"'`:#&*!%@|>{}[],.-_/\\?=+~ éü漢字😀\u00a0\u2028"


def _random_submission(rng: random.Random) -> dict[str, Any]:
    def text(size: int, alphabet: str = FREE_TEXT) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, size)))

    segment = string.ascii_lowercase + string.digits
    name = rng.choice(string.ascii_lowercase) + "-".join(text(6, segment) for _ in range(rng.randint(1, 3)))
    owner_name = text(10, string.ascii_letters + string.digits + "-_.")
    return {
        "name": name[:63].rstrip("-"),
        # A letter first: the form refuses descriptions that start like a Markdown block.
        "description": (rng.choice(string.ascii_letters) + text(80)).rstrip(),
        "owner": rng.choice(["", "group:", "user:default/"]) + owner_name,
        "system": rng.choice([None, "payments", "system:default/" + owner_name]),
        "repoUrl": f"github.com?owner={text(10, segment)}&repo={text(12, segment + '-_.')}",
        "database": rng.choice(["aurora-postgresql", "aurora-mysql", "dynamodb", "none"]),
        "cache": rng.choice(["elasticache-redis", "none"]),
        "tracing": rng.choice(["datadog", "opentelemetry", "none"]),
    }


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64))
def test_random_values_render_like_backstage(seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    rng = random.Random(seed)
    template = Template.load(TEMPLATE_PATH)
    accepted = []
    for _ in range(25):
        submission = {key: value for key, value in _random_submission(rng).items() if value is not None}
        try:
            run_template(template, submission, tmp_path_factory.mktemp("probe"))
        except TemplateInputError:
            continue  # rejected by the form's schema; rejection is tested on its own
        accepted.append(submission)
    assert accepted, "the generator should mostly produce acceptable values"
    problems = _compare_with_fetch_template(template, accepted, tmp_path_factory.mktemp("render"))
    assert not problems, "\n".join(problems[:20])


def test_rendered_yaml_carries_free_text_exactly(tmp_path: Path) -> None:
    description = 'He said: "ship it" # not a comment — ünïcode \\ backslash {braces} ${dollar}'
    template = Template.load(TEMPLATE_PATH)
    _render_locally(template, {**BASE_VALUES, "description": description}, tmp_path / "out")
    component = next(yaml.safe_load_all((tmp_path / "out" / "catalog-info.yaml").read_text(encoding="utf-8")))
    assert component["metadata"]["description"] == description
