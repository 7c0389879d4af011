"""The template and a rendered service in a real Backstage backend, over its HTTP API.

``oracle/backend/backend.cjs`` starts ``createBackend()`` with the catalog (and its Template
kind module) and the scaffolder (and its GitHub module) on the local PostgreSQL server, with
the catalog settings the docs give administrators. The test serves the repository and a
rendered service over HTTP on 127.0.0.1 (``url`` locations; relative ``$text`` references
cannot be resolved from ``file`` locations), then checks that the backend ingests the
template's ``catalog-info.yaml``, dry-runs the Template through ``POST /v2/dry-run`` like
scaffold renders it, and ingests the service's Component, API and Resources.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from local_http import free_port, serve_folder
from oracle import ORACLE_DIR, Relation
from scaffold.workflow import Template, WorkflowResult, run_template
from template_matrix import BASE_VALUES, SKELETON_PATH, TEMPLATE_PATH
from test_catalog_entities import APP_CONFIG, _apis, _expected_relations, _resources

pytestmark = pytest.mark.backstage_backend

BACKEND_DIR = ORACLE_DIR / "backend"
INSTALL_HINT = "npm ci --prefix oracle/backend"
TEMPLATE_REF = "template/default/fastapi-service"
# A service with every kind of Resource and API, in a system.
SERVICE_VALUES = {
    **BASE_VALUES,
    "database": "aurora-postgresql",
    "cache": "elasticache-redis",
    "taskQueue": "celery",
    "events": "redis-streams",
    "system": "payments",
}
T = TypeVar("T")


def _require_backend_packages() -> None:
    if not (BACKEND_DIR / "node_modules" / "@backstage" / "backend-defaults").is_dir():
        message = f"the Backstage backend's npm packages are not installed: run `{INSTALL_HINT}`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _wait_for(
    what: str, attempt: Callable[[], T | None], timeout: float = 30.0, explain: Callable[[], str] = str
) -> T:
    """Call ``attempt`` every 0.25 s until it returns something; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (result := attempt()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} {explain()}")
        time.sleep(0.25)
    return result


@dataclass(frozen=True)
class Backend:
    url: str
    token: str

    def call(self, path: str, body: object = None, timeout: float = 60.0) -> tuple[int, Any]:
        """GET (or POST ``body`` as JSON) ``/api/<path>``; the status and the decoded answer."""
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def entity(self, ref: str) -> dict[str, Any] | None:
        status, entity = self.call(f"catalog/entities/by-name/{ref}")
        return entity if status == 200 else None


@contextlib.contextmanager
def _static_site(site: Path, folders: dict[str, Path]) -> Iterator[str]:
    """Serve each folder under /<name>/ on 127.0.0.1 (links in ``site``); yield the base URL."""
    for name, folder in folders.items():
        (site / name).symlink_to(folder)
    with serve_folder(site) as url:
        yield url


def _drop_databases(prefix: str) -> None:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAX", "-d", "postgres", "-c"]
    names = subprocess.run(
        [*psql, f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    for name in names:
        subprocess.run([*psql, f'DROP DATABASE "{name}" WITH (FORCE)'], check=True, timeout=30)


@contextlib.contextmanager
def _running_backend(catalog: dict[str, Any], readable_host: str, log: Path) -> Iterator[Backend]:
    port, token = free_port(), secrets.token_hex(16)
    prefix = f"backstage_test_{secrets.token_hex(4)}_"
    settings = {
        "port": port,
        "databasePrefix": prefix,
        "token": token,
        "readableHost": readable_host,
        "catalog": catalog,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["node", str(BACKEND_DIR / "backend.cjs")],
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=BACKEND_DIR,
            start_new_session=True,
        )
    try:
        assert process.stdin is not None
        process.stdin.write(json.dumps(settings).encode())
        process.stdin.close()
        backend = Backend(f"http://127.0.0.1:{port}", token)

        def ready() -> bool | None:
            if process.poll() is not None:
                pytest.fail(f"the backend exited with {process.returncode}: {log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{backend.url}/.backstage/health/v1/readiness", timeout=2).close()
                return True
            return None

        _wait_for("the backend to be ready", ready, timeout=60)
        yield backend
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        _drop_databases(prefix)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkflowResult]:
    root = tmp_path_factory.mktemp("service")
    return root, run_template(Template.load(TEMPLATE_PATH), SERVICE_VALUES, root)


@pytest.fixture(scope="module")
def site(service: tuple[Path, WorkflowResult], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _static_site(
        tmp_path_factory.mktemp("site"), {"template": TEMPLATE_PATH.parent, "service": service[0]}
    ) as url:
        yield url


@pytest.fixture(scope="module")
def backend(site: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    _require_backend_packages()
    # The docs' catalog settings, with their location pointing at the served repository.
    catalog = json.loads(json.dumps(APP_CONFIG["catalog"]))
    (location,) = catalog["locations"]
    location["target"] = f"{site}/template/catalog-info.yaml"
    log = tmp_path_factory.mktemp("backend") / "backend.log"
    with _running_backend(catalog, site.removeprefix("http://"), log) as running:
        yield running


def test_the_documented_location_brings_in_the_template(backend: Backend) -> None:
    template = _wait_for("the Template", lambda: backend.entity(TEMPLATE_REF))
    ours = Template.load(TEMPLATE_PATH)
    assert template["spec"] == ours.spec
    assert template["metadata"]["annotations"]["backstage.io/managed-by-origin-location"].endswith(
        "/template/catalog-info.yaml"
    )
    component = _wait_for(
        "the template's Component", lambda: backend.entity("component/default/fastapi-service-template")
    )
    assert component["spec"]["type"] == "template-tooling"


def test_the_scaffolder_serves_the_form_and_has_every_action_of_the_steps(backend: Backend) -> None:
    _wait_for("the Template", lambda: backend.entity(TEMPLATE_REF))
    ours = Template.load(TEMPLATE_PATH)
    status, form = backend.call("scaffolder/v2/templates/default/template/fastapi-service/parameter-schema")
    assert status == 200, form
    assert form["title"] == ours.document["metadata"]["title"]
    assert [step["schema"] for step in form["steps"]] == ours.pages
    status, actions = backend.call("scaffolder/v2/actions")
    assert status == 200, actions
    assert {step["action"] for step in ours.spec["steps"]} <= {action["id"] for action in actions}


def test_the_scaffolder_dry_runs_the_catalog_template_like_scaffold(
    backend: Backend, service: tuple[Path, WorkflowResult]
) -> None:
    template = _wait_for("the Template", lambda: backend.entity(TEMPLATE_REF))
    root, ours = service
    # What the template editor uploads: the files beside template.yaml that the steps read.
    uploaded = [
        {
            "path": path.relative_to(TEMPLATE_PATH.parent).as_posix(),
            "base64Content": base64.b64encode(path.read_bytes()).decode(),
        }
        for path in sorted(SKELETON_PATH.rglob("*"))
        if path.is_file()
    ]
    status, result = backend.call(
        "scaffolder/v2/dry-run",
        {"template": template, "values": ours.parameters, "directoryContents": uploaded},
    )
    assert status == 200, result
    final_status = {
        entry["body"]["stepId"]: entry["body"]["status"]
        for entry in result["log"]
        if "status" in entry["body"]
    }
    assert [(step["id"], final_status[step["id"]]) for step in result["steps"]] == [
        (step.id, "completed" if step.status == "completed" else "skipped") for step in ours.steps
    ]
    assert result["output"] == ours.output
    theirs = {file["path"]: base64.b64decode(file["base64Content"]) for file in result["directoryContents"]}
    mine = {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }
    assert theirs.keys() == mine.keys()
    assert [path for path in mine if theirs[path] != mine[path]] == []


def test_a_rendered_service_registers_its_component_api_and_resources(
    backend: Backend, site: str, service: tuple[Path, WorkflowResult]
) -> None:
    root, _ = service
    status, added = backend.call(
        "catalog/locations", {"type": "url", "target": f"{site}/service/catalog-info.yaml"}
    )
    assert status == 201, added
    name = SERVICE_VALUES["name"]
    refs = [f"component/default/{name}"] + [f"api/default/{api}" for api in _apis(SERVICE_VALUES)]
    refs += [f"resource/default/{resource}" for resource in _resources(SERVICE_VALUES)]
    ours = {ref.replace("/", ":", 1) for ref in refs}
    expected = {relation for relation in _expected_relations(SERVICE_VALUES) if relation.source in ours}

    seen: dict[str, dict[str, Any] | None] = {}

    def relations_of(entities: dict[str, dict[str, Any] | None]) -> set[Relation]:
        return {
            Relation(ref, relation["type"], relation["targetRef"])
            for ref, entity in entities.items()
            for relation in (entity or {}).get("relations", [])
        }

    def registered() -> dict[str, dict[str, Any]] | None:
        seen.update({ref.replace("/", ":", 1): backend.entity(ref) for ref in refs})
        # The stitcher adds an entity's relations shortly after the entity appears.
        complete = all(seen.values()) and relations_of(seen) >= expected
        return {ref: entity for ref, entity in seen.items() if entity} if complete else None

    def missing() -> str:
        absent = sorted(ref for ref, entity in seen.items() if entity is None)
        return f"(absent: {absent}, missing relations: {sorted(map(str, expected - relations_of(seen)))})"

    entities = _wait_for("the service's entities and relations", registered, explain=missing)
    relations = relations_of(dict(entities))
    assert relations == expected
    for api, (_, document) in _apis(SERVICE_VALUES).items():
        definition = entities[f"api:default/{api}"]["spec"]["definition"]
        assert definition == (root / document).read_text(encoding="utf-8")
    assert {
        ref: entity["spec"]["type"] for ref, entity in entities.items() if ref.startswith("resource:")
    } == {f"resource:default/{resource}": kind for resource, kind in _resources(SERVICE_VALUES).items()}
