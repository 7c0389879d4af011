"""A rendered service's catalog-info.yaml, registered by Backstage's own code.

The oracle (``oracle/catalog-register.cjs``) runs the template's ``catalog:register`` step:
the scaffolder's action, the catalog's location service, processing orchestrator,
processors (``$text`` placeholders, kind validation, relations), entity policies and
catalog rules, with GitHub served from the rendered folder. Every distinct
``catalog-info.yaml`` of every combination of choices (with and without a system) is
registered in one Node process, and what the catalog makes of it is compared with what the
choices call for: the entities, the relations, the APIs' definitions read from
``openapi.json`` and, with events, ``asyncapi.json``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from oracle import RegisterJob, RegisterResult, Relation, register_in_catalog
from scaffold.fetch_template import Skeleton
from scaffold.workflow import Template, run_template
from template_matrix import AURORA, BASE_VALUES, SKELETON_PATH, TEMPLATE_PATH, all_combinations

ROOT = TEMPLATE_PATH.parent
# The files the catalog reads: the entities and, through their $text placeholders, the APIs
# (asyncapi.json only with events). Their skeleton entries are found by what they render to.
CATALOG_FILES = ("catalog-info.yaml", "openapi.json", "asyncapi.json")
ALWAYS_RENDERED = ("catalog-info.yaml", "openapi.json")
SYSTEMS = (None, "payments")


def _app_config(page: Path) -> dict[str, Any]:
    """The app-config.yaml block that a page tells Backstage administrators to use."""
    blocks = re.findall(r"^```yaml\n(catalog:\n.*?)^```$", page.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, f"{page.name}: one app-config block with catalog settings"
    config = yaml.safe_load(blocks[0])
    assert isinstance(config, dict)
    return config


APP_CONFIG = _app_config(ROOT / "docs" / "index.md")


def _register_step() -> dict[str, Any]:
    steps = Template.load(TEMPLATE_PATH).spec["steps"]
    (step,) = (step for step in steps if step["action"] == "catalog:register")
    return dict(step["input"])


REGISTER_INPUT = _register_step()


@dataclasses.dataclass(frozen=True)
class Render:
    """A submission and the catalog files it renders to (in ``root``)."""

    values: dict[str, Any]
    root: Path

    def job(self, job_id: str, config: Mapping[str, Any] = APP_CONFIG) -> RegisterJob:
        # What publish:github outputs for the repository the form names (branch main).
        owner, repo = re.fullmatch(r"github\.com\?owner=(.+)&repo=(.+)", self.values["repoUrl"]).groups()  # type: ignore[union-attr]
        return RegisterJob(
            job_id,
            self.root,
            f"https://github.com/{owner}/{repo}/blob/main",
            REGISTER_INPUT["catalogInfoPath"],
            config,
        )


def _render_catalog_files(values: dict[str, Any], root: Path, template: Template) -> Render:
    """Render only the catalog files: each file renders on its own, so they are the full render's."""
    root.mkdir(parents=True)
    run_template(template, values, root)
    return Render(values, root)


def _catalog_only(template: Template) -> Template:
    """``template`` with its skeleton cut down to the files the catalog reads."""
    skeleton = Skeleton.load(SKELETON_PATH)
    template.skeletons[skeleton.root] = dataclasses.replace(
        skeleton,
        entries=tuple(
            entry for entry in skeleton.entries if any(name in entry.location for name in CATALOG_FILES)
        ),
    )
    return template


@pytest.fixture(scope="module")
def distinct_renders(tmp_path_factory: pytest.TempPathFactory) -> list[Render]:
    """One render per distinct pair of catalog files over every combination, with and without a system."""
    template = _catalog_only(Template.load(TEMPLATE_PATH))
    root = tmp_path_factory.mktemp("catalog")
    renders: dict[tuple[bytes, ...], Render] = {}
    for index, combination in enumerate(all_combinations(template)):
        for system in SYSTEMS:
            values = {**combination, **({"system": system} if system else {})}
            render = _render_catalog_files(values, root / f"{index}-{system}", template)
            files = [render.root / name for name in CATALOG_FILES]
            contents = tuple(file.read_bytes() if file.is_file() else b"" for file in files)
            renders.setdefault(contents, render)
    return list(renders.values())


@pytest.fixture(scope="module")
def registered(distinct_renders: list[Render]) -> list[tuple[Render, RegisterResult]]:
    results = register_in_catalog([render.job(str(index)) for index, render in enumerate(distinct_renders)])
    return list(zip(distinct_renders, results, strict=True))


def _resources(values: Mapping[str, Any]) -> dict[str, str]:
    """resource name -> spec.type, for the infrastructure the choices give the service."""
    name = values["name"]
    resources = {}
    if values["database"] in AURORA:
        resources[f"{name}-db"] = "database"
    elif values["database"] == "dynamodb":
        resources[f"{name}-table"] = "database"
    if values["cache"] != "none":
        resources[f"{name}-cache"] = "cache"
    if values["taskQueue"] != "none":
        resources[f"{name}-broker"] = "message-broker"
    if values["events"] != "none":
        resources[f"{name}-events"] = "event-stream"
    return resources


def _apis(values: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """API name -> (spec.type, the committed document that defines it)."""
    name = values["name"]
    apis = {name: ("openapi", "openapi.json")}
    if values["events"] != "none":
        apis[f"{name}-events"] = ("asyncapi", "asyncapi.json")
    return apis


def _expected_relations(values: Mapping[str, Any]) -> set[Relation]:
    name, owner = values["name"], values["owner"]
    component = f"component:default/{name}"
    apis = [f"api:default/{api}" for api in _apis(values)]
    resources = [f"resource:default/{resource}" for resource in _resources(values)]
    owned = [component, *apis, *resources]
    pairs = [(component, "providesApi", "apiProvidedBy", api) for api in apis]
    pairs += [(entity, "ownedBy", "ownerOf", owner) for entity in owned]
    pairs += [(component, "dependsOn", "dependencyOf", entity) for entity in resources]
    if values.get("system"):
        pairs += [(entity, "partOf", "hasPart", f"system:default/{values['system']}") for entity in owned]
    return {
        relation
        for source, forward, reverse, target in pairs
        for relation in (Relation(source, forward, target), Relation(target, reverse, source))
    }


def _entities(result: RegisterResult) -> dict[str, dict[str, Any]]:
    """The registered entities by ref, without the Location the catalog makes for the file."""
    return {
        f"{entity['kind'].lower()}:{entity['metadata']['namespace']}/{entity['metadata']['name']}": entity
        for entity in result.entities
        if entity["kind"] != "Location"
    }


def test_every_combination_is_covered(distinct_renders: list[Render]) -> None:
    # database (with orm) x cache x task queue x events x auth x tracing x lifecycle x system
    assert len(distinct_renders) == 6 * 2 * 3 * 2 * 2 * 2 * 2 * 2
    assert all((render.root / name).is_file() for render in distinct_renders for name in ALWAYS_RENDERED)
    for render in distinct_renders:
        assert (render.root / "asyncapi.json").is_file() == (render.values["events"] != "none")


def test_the_catalog_accepts_every_variant(registered: list[tuple[Render, RegisterResult]]) -> None:
    failures = [f"{render.values}: {result.error}" for render, result in registered if not result.ok]
    assert not failures, "\n".join(failures[:5])


def test_the_register_step_links_to_the_component(registered: list[tuple[Render, RegisterResult]]) -> None:
    for render, result in registered:
        assert result.outputs["entityRef"] == f"component:default/{render.values['name']}"
        assert (
            result.outputs["catalogInfoUrl"]
            == "https://github.com/acme/orders-api/tree/main/catalog-info.yaml"
        )


def test_the_entities_are_the_component_its_api_and_its_resources(
    registered: list[tuple[Render, RegisterResult]],
) -> None:
    for render, result in registered:
        values, name = render.values, render.values["name"]
        entities = _entities(result)
        resources = {
            ref.split("/", 1)[1]: entity["spec"]["type"]
            for ref, entity in entities.items()
            if ref.startswith("resource:")
        }
        assert resources == _resources(values)
        assert set(entities) == {f"component:default/{name}"} | {
            f"api:default/{api}" for api in _apis(values)
        } | {f"resource:default/{resource}" for resource in resources}
        system = f"system:default/{values['system']}" if "system" in values else None
        for entity in entities.values():
            assert entity["spec"]["owner"] == values["owner"]
            assert entity["spec"].get("system") == system
        for api, (kind, _) in _apis(values).items():
            spec = entities[f"api:default/{api}"]["spec"]
            assert (spec["type"], spec["lifecycle"]) == (kind, values["lifecycle"])


def test_the_api_definitions_are_the_committed_documents(
    registered: list[tuple[Render, RegisterResult]],
) -> None:
    for render, result in registered:
        for api, (_, document) in _apis(render.values).items():
            definition = _entities(result)[f"api:default/{api}"]["spec"]["definition"]
            assert definition == (render.root / document).read_text(encoding="utf-8")


def test_the_relations_are_the_expected_ones(registered: list[tuple[Render, RegisterResult]]) -> None:
    for render, result in registered:
        assert set(result.relations) == _expected_relations(render.values), render.values


def test_two_services_share_no_entity_and_long_names_fit(tmp_path: Path) -> None:
    template = _catalog_only(Template.load(TEMPLATE_PATH))
    everything = {
        "database": "dynamodb",
        "cache": "elasticache-redis",
        "taskQueue": "celery",
        "events": "redis-streams",
        "system": "payments",
    }
    longest = "a" * 53 + "-b"  # 55 characters, the form's maximum
    renders = [
        _render_catalog_files({**BASE_VALUES, **everything, "name": name}, tmp_path / name, template)
        for name in ("orders-api", "orders", longest)
    ]
    results = register_in_catalog([render.job(render.values["name"]) for render in renders])
    assert all(result.ok for result in results), [result.error for result in results]
    refs = [set(_entities(result)) for result in results]
    assert all(len(entity_refs) == 7 for entity_refs in refs)
    assert not refs[0] & refs[1]
    assert not refs[0] & refs[2]
    assert not refs[1] & refs[2]


def test_backstage_default_rules_refuse_the_file_so_the_docs_allow_its_kinds(
    distinct_renders: list[Render],
) -> None:
    with_resources = next(render for render in distinct_renders if _resources(render.values))
    (refused,) = register_in_catalog([with_resources.job("default-rules", config={})])
    assert not refused.ok
    assert "is not of an allowed kind" in str(refused.error)
    # The README gives administrators the same rules.
    assert _app_config(ROOT / "README.md")["catalog"]["rules"] == APP_CONFIG["catalog"]["rules"]


@pytest.mark.parametrize(
    ("events", "missing"), [("none", "openapi.json"), ("redis-streams", "asyncapi.json")]
)
def test_a_missing_api_document_fails_registration(
    distinct_renders: list[Render], tmp_path: Path, events: str, missing: str
) -> None:
    rendered = next(render for render in distinct_renders if render.values["events"] == events)
    for name in CATALOG_FILES:
        if name != missing and (rendered.root / name).is_file():
            (tmp_path / name).write_bytes((rendered.root / name).read_bytes())
    render = dataclasses.replace(rendered, root=tmp_path)
    (failed,) = register_in_catalog([render.job(f"no-{missing}")])
    assert not failed.ok
    assert f"Placeholder $text could not read location ./{missing}" in str(failed.error)
