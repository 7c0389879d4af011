"""Delivery files of generated services (Dockerfile, Compose, Makefile, .env.example, CI,
Kubernetes, catalog and docs) are complete, valid and specific to each variant.

Every (database, orm, cache, taskQueue) combination is rendered once; the other choices
(auth, tracing, pythonVersion, lifecycle, system) rotate over them so each value is covered.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from scaffold.workflow import Template, run_template
from template_matrix import SKELETON_PATH, TEMPLATE_PATH, all_combinations, combination_id

KUBERNETES_VERSION = "1.33.0"
AURORA = ("aurora-postgresql", "aurora-mysql")
CORE = ("database", "orm", "cache", "taskQueue")
ROTATED = ("auth", "tracing", "pythonVersion", "lifecycle", "events")
WORKFLOWS = Path(".github/workflows")
WORKFLOW = WORKFLOWS / "ci.yml"
# What each generated workflow's jobs may do with the repository's token.
WORKFLOW_PERMISSIONS = {
    "ci.yml": {"contents": "read"},
    # Pushes the update branch and opens its pull request.
    "template-update.yml": {"contents": "write", "pull-requests": "write"},
}
TEMPLATE_MARKERS = ("${{", "{%", "{#")
# Settings that only some variants have.
OPTIONAL_SETTINGS = {
    "DATABASE_URL",
    "REDIS_URL",
    "TASK_BROKER_URL",
    "EVENTS_REDIS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_JWKS_URL",
    "DATADOG_ENABLED",
}
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def _when(condition: bool, *names: str) -> set[str]:
    return set(names) if condition else set()


def _variants() -> list[dict[str, Any]]:
    by_core: dict[tuple[Any, ...], dict[tuple[Any, ...], dict[str, Any]]] = {}
    for values in all_combinations(Template.load(TEMPLATE_PATH)):
        core = tuple(values.get(key, "none") for key in CORE)
        by_core.setdefault(core, {})[tuple(values[key] for key in ROTATED)] = values
    # Each rotated choice takes its values in turn, on its own, so that every value appears.
    options = [
        sorted({rotated[position] for rotated in next(iter(by_core.values()))}, key=str)
        for position in range(len(ROTATED))
    ]
    variants = []
    for index, core in enumerate(sorted(by_core, key=str)):
        values = dict(by_core[core][tuple(choice[index % len(choice)] for choice in options)])
        if index % 3 == 0:
            values["system"] = "payments"
        variants.append(values)
    return variants


VARIANTS = _variants()


@dataclass(frozen=True)
class Service:
    """One rendered variant: the values the skeleton saw and the folder it was rendered to."""

    values: dict[str, Any]
    root: Path

    @property
    def aurora(self) -> bool:
        return str(self.values["database"]) in AURORA

    @property
    def in_memory(self) -> bool:
        """No database: the products live in the API process's memory."""
        return str(self.values["database"]) == "none"

    @property
    def queue(self) -> bool:
        return str(self.values["taskQueue"]) != "none"

    @property
    def events(self) -> bool:
        return str(self.values["events"]) != "none"

    @property
    def redis(self) -> bool:
        return self.queue or self.events or str(self.values["cache"]) != "none"

    @property
    def secret_settings(self) -> set[str]:
        return (
            _when(self.aurora, "DATABASE_URL")
            | _when(self.values["cache"] != "none", "REDIS_URL")
            | _when(self.queue, "TASK_BROKER_URL")
            | _when(self.events, "EVENTS_REDIS_URL")
        )

    @property
    def settings(self) -> set[str]:
        """The settings contract of the variant (names without the prefix)."""
        names = {
            "ENVIRONMENT",
            "LOG_LEVEL",
            "LOG_JSON",
            "LOG_PROBES",
            "HTTP_MAX_BODY_BYTES",
            "REQUEST_TIMEOUT_SECONDS",
            "CORS_ALLOW_ORIGINS",
            "HSTS_MAX_AGE_SECONDS",
            "HTTP_CLIENT_TIMEOUT_SECONDS",
            "HTTP_CLIENT_RETRIES",
        }
        if self.values["datadog"]:
            names.add("DATADOG_ENABLED")
        if self.values["auth"] == "jwt":
            names |= {"JWT_ISSUER", "JWT_AUDIENCE", "JWT_JWKS_URL"}
        return names | self.secret_settings

    def text(self, path: str) -> str:
        return (self.root / path).read_text(encoding="utf-8")

    def yaml(self, path: str) -> Any:
        return yaml.safe_load(self.text(path))


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Service]:
    template = Template.load(TEMPLATE_PATH)
    rendered = {}
    for values in VARIANTS:
        workspace = tmp_path_factory.mktemp("service")
        result = run_template(template, values, workspace)
        (step,) = (step for step in result.steps if step.id == "fetchSkeleton")
        assert isinstance(step.input, dict)
        rendered[combination_id(values)] = Service(step.input["values"], workspace)
    return rendered


@pytest.fixture(params=[combination_id(values) for values in VARIANTS])
def service(request: pytest.FixtureRequest, services: dict[str, Service]) -> Service:
    return services[request.param]


def _tool(name: str) -> Path:
    """A command-line tool installed in this environment (a dev dependency)."""
    return Path(sys.executable).parent / name


def _files(root: Path) -> Iterator[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file())


def _settings_fields(package: Path) -> set[str]:
    """Upper-cased field names of the generated ``Settings`` class: those of ``core/config.py``
    and of the feature settings classes it composes, followed base by base."""
    classes = {
        node.name: node
        for source in package.rglob("*.py")
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    }
    config = ast.parse((package / "core" / "config.py").read_text(encoding="utf-8"))
    queue = [node for node in ast.walk(config) if isinstance(node, ast.ClassDef) and node.name == "Settings"]
    assert len(queue) == 1
    fields: set[str] = set()
    while queue:
        settings = queue.pop()
        fields |= {
            statement.target.id.upper()
            for statement in settings.body
            if isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id != "model_config"
        }
        queue += [
            classes[base.id] for base in settings.bases if isinstance(base, ast.Name) and base.id in classes
        ]
    return fields


def _trailing_whitespace(text: str) -> list[int]:
    return [number for number, line in enumerate(text.splitlines(), 1) if line != line.rstrip()]


def _env_names(text: str) -> set[str]:
    """Variables set in a dotenv file, including the ones commented out as examples."""
    return {match[1] for match in re.finditer(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE)}


# --- The skeleton ------------------------------------------------------------------------


def test_no_skeleton_line_ends_with_a_block_tag_after_text() -> None:
    """With trimBlocks a block tag eats the newline after it: ``text{% endif %}`` at the end
    of a line glues the next line on (``Redis{% endif %}`` + ``with`` gives ``Rediswith``).
    Put such tags on their own line, or keep words after them."""
    problems = []
    for path in _files(SKELETON_PATH):
        if path.relative_to(SKELETON_PATH).parts[:2] == (".github", "workflows"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\S.*\{%[^%]*%\}$", line) and not re.fullmatch(r"\s*\{%[^%]*%\}", line):
                problems.append(f"{path.relative_to(SKELETON_PATH)}:{number}: {line.strip()}")
    assert not problems


# --- Every file -------------------------------------------------------------------------


def test_no_template_syntax_is_left_and_structured_files_parse(service: Service) -> None:
    problems = []
    for path in _files(service.root):
        relative = path.relative_to(service.root)
        text = path.read_text(encoding="utf-8")
        if relative.parent != WORKFLOWS:
            problems += [f"{relative}: {marker}" for marker in TEMPLATE_MARKERS if marker in text]
        # What the pre-commit hooks trailing-whitespace and end-of-file-fixer would change.
        if text and (not text.endswith("\n") or text.endswith("\n\n")):
            problems.append(f"{relative}: must end with exactly one newline")
        problems += [f"{relative}:{number}: trailing whitespace" for number in _trailing_whitespace(text)]
        try:
            if path.suffix in (".yaml", ".yml"):
                list(yaml.safe_load_all(text))
            elif path.suffix == ".toml":
                tomllib.loads(text)
            elif path.suffix == ".json":
                json.loads(text)
        except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
            problems.append(f"{relative}: {error}")
    assert not problems


# --- Container image ----------------------------------------------------------------------


def _exec_form(instruction: str, dockerfile: str) -> list[str]:
    (line,) = re.findall(rf"^{instruction} (\[.*\])$", dockerfile, re.MULTILINE)
    command: list[str] = json.loads(line)
    return command


def test_dockerfile(service: Service) -> None:
    dockerfile = service.text("Dockerfile")
    package = service.values["packageName"]
    python = service.values["pythonVersion"]
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == [f"python:{python}-slim"] * 2
    assert re.search(r"^COPY --from=ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ /uv ", dockerfile, re.MULTILINE)
    assert "UV_COMPILE_BYTECODE=1" in dockerfile
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    assert "uv sync --frozen --no-dev --no-install-project" in dockerfile
    assert "uv sync --frozen --no-dev --no-editable" in dockerfile
    assert re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE) == ["10001:10001"]
    assert ("COPY --chown=root:root migrations ./migrations" in dockerfile) == service.aurora
    command = _exec_form("CMD", dockerfile)
    assert (command[0] == "ddtrace-run") == bool(service.values["datadog"])
    uvicorn = command[command.index("uvicorn") :]
    assert uvicorn[1:3] == ["--factory", f"{package}.main:create_app"]
    assert {"--proxy-headers", "--no-server-header", "--timeout-graceful-shutdown"} <= set(uvicorn)
    assert (service.root / "src" / package / "main.py").is_file()
    assert re.search(r"^HEALTHCHECK .*\\\n +CMD \[\"python\", .*/health/live", dockerfile, re.MULTILINE)
    ignored = service.text(".dockerignore").split()
    assert {".git/", ".venv/", ".env", "tests/", "k8s/"} <= set(ignored)


def test_dockerfile_passes_hadolint(service: Service) -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", "-"],
        input=service.text("Dockerfile"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Docker Compose -----------------------------------------------------------------------


@functools.cache
def _builtin_validator(name: str) -> jsonschema.protocols.Validator:
    """A schema that check-jsonschema ships (``--builtin-schema vendor.NAME``)."""
    schemas = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(schemas.joinpath(f"{name}.json").read_text(encoding="utf-8"))
    validator: jsonschema.protocols.Validator = jsonschema.validators.validator_for(schema)(schema)
    return validator


def _validate_with_builtin_schema(name: str, document: Any) -> None:
    _builtin_validator(name).validate(document)


# Containers that set something up and exit: migrations, the DynamoDB table.
ONE_SHOT = {"migrate", "dynamodb-init"}


def _worker_command(service: Service) -> list[str]:
    package = service.values["packageName"]
    if service.values["taskQueue"] == "celery":
        assert (service.root / "src" / package / "worker" / "app.py").is_file()
        return ["celery", "--app", f"{package}.worker.app", "worker", "--loglevel", "INFO"]
    assert (service.root / "src" / package / "worker" / "settings.py").is_file()
    return ["arq", f"{package}.worker.settings.WorkerSettings"]


def _consumer_command(service: Service) -> list[str]:
    package = service.values["packageName"]
    assert (service.root / "src" / package / "events" / "__main__.py").is_file()
    return ["python", "-m", f"{package}.events", "consume"]


def _consumer_probe(service: Service, kind: str) -> list[str]:
    package = service.values["packageName"]
    assert (service.root / "src" / package / "events" / "probes.py").is_file()
    return ["python", "-m", f"{package}.events.probes", kind]


def test_compose_has_exactly_the_services_of_the_variant(service: Service) -> None:
    compose = service.yaml("docker-compose.yml")
    _validate_with_builtin_schema("compose-spec", compose)
    database = {"aurora-postgresql": "postgres", "aurora-mysql": "mysql", "dynamodb": "dynamodb"}
    expected = {"app"} | _when(service.aurora, "migrate") | _when(service.queue, "worker")
    expected |= _when(service.events, "events-consumer")
    expected |= _when(service.redis, "redis")
    expected |= {database[name] for name in [service.values["database"]] if name in database}
    expected |= _when(service.values["database"] == "dynamodb", "dynamodb-init")
    services: dict[str, Any] = compose["services"]
    assert set(services) == expected
    for name, definition in services.items():
        assert "healthcheck" in definition, name
        for dependency, condition in definition.get("depends_on", {}).items():
            one_shot = dependency in ONE_SHOT
            wanted = "service_completed_successfully" if one_shot else "service_healthy"
            assert condition == {"condition": wanted}, (name, dependency)
            assert one_shot or not services[dependency]["healthcheck"].get("disable"), dependency
    # The app waits for the one-shot set-up containers, which wait for the database.
    backing = expected - {"app", "worker", "events-consumer", "postgres", "mysql", "dynamodb"}
    assert set(services["app"].get("depends_on", {})) == backing
    for name in {"app", "migrate", "worker", "events-consumer"} & expected:
        assert services[name]["read_only"] is True, name
        assert services[name]["cap_drop"] == ["ALL"], name
    if service.queue:
        assert services["worker"]["command"] == _worker_command(service)
    if service.events:
        assert services["events-consumer"]["command"] == _consumer_command(service)
        # Its health check is the liveness probe's command (it serves no HTTP).
        assert services["events-consumer"]["healthcheck"]["test"][1:] == _consumer_probe(service, "live")
    if service.aurora:
        assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    prefix = service.values["envPrefix"]
    environment = set(services["app"]["environment"])
    assert {prefix + name for name in service.secret_settings} <= environment


# --- Makefile -----------------------------------------------------------------------------

BASE_TARGETS = {
    "help",
    "install",
    "lock",
    "dev",
    "run",
    "test",
    "lint",
    "format",
    "typecheck",
    "openapi",
    "check",
    "up",
    "down",
    "docker-build",
    "docs",
    "docs-build",
    "monitoring-test",
}


def test_makefile_targets(service: Service) -> None:
    makefile = service.text("Makefile")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    expected = BASE_TARGETS | _when(service.aurora, "migrate") | _when(service.queue, "worker")
    expected |= _when(service.events, "asyncapi", "consume", "dead-letters")
    expected |= _when(service.redis or service.values["database"] != "none", "deps")
    # Unit tests apart from the tests that need a server, where the service has such tests.
    expected |= _when(service.aurora or service.redis, "test-unit")
    # CI's test step: the servers of docker-compose.yml, then every test on them.
    expected |= _when(service.aurora or service.redis, "test-ci")
    assert targets == expected
    (phony,) = re.findall(r"^\.PHONY: (.*)$", makefile, re.MULTILINE)
    assert set(phony.split()) == expected
    # Recipe lines start with a tab, never with spaces.
    for block in re.split(r"\n\n+", makefile):
        head, *recipe = block.splitlines()
        if re.match(r"^[a-z][a-z.-]*:(?!=)", head):
            assert all(line.startswith("\t") for line in recipe), head
    assert "alembic upgrade head" in makefile if service.aurora else "alembic" not in makefile
    if service.queue:
        assert " ".join(_worker_command(service)) in makefile
    if service.events:
        assert "uv run " + " ".join(_consumer_command(service)) in makefile


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_makefile_parses(service: Service) -> None:
    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "help", "test", "lint", "docker-build"],
        cwd=service.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "uv run pytest" in result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_help_shows_the_values_it_uses(service: Service) -> None:
    def make_help(*overrides: str) -> str:
        return subprocess.run(
            ["make", "--no-print-directory", "help", *overrides],
            cwd=service.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    default = make_help()
    custom = make_help("PORT=9001", "IMAGE=registry.example.com/team/api", "VERSION=1.2.3")

    assert "$(" not in default
    assert "auto-reload on http://localhost:8000 (settings" in default
    assert re.search(rf"the container image {re.escape(service.values['name'])}:\S+$", default, re.M)
    assert "auto-reload on http://localhost:9001 (settings" in custom
    assert "the container image registry.example.com/team/api:1.2.3" in custom


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_make_docs_uses_the_techdocs_plugin_of_the_template(service: Service) -> None:
    # The version the template's own docs are built and checked with.
    (pin,) = [
        requirement
        for requirement in tomllib.loads((TEMPLATE_PATH.parent / "pyproject.toml").read_text())[
            "dependency-groups"
        ]["dev"]
        if requirement.startswith("mkdocs-techdocs-core")
    ]
    assert re.fullmatch(r"mkdocs-techdocs-core==[\d.]+", pin)

    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "docs", "docs-build"],
        cwd=service.root,
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.splitlines() == [
        f"uvx --with {pin} mkdocs serve --dev-addr 127.0.0.1:8080",
        f"uvx --with {pin} mkdocs build --strict",
    ]


# --- Settings -----------------------------------------------------------------------------


def test_env_example_lists_the_settings_of_the_variant(service: Service) -> None:
    prefix = service.values["envPrefix"]
    listed = _env_names(service.text(".env.example"))
    assert all(name.startswith(prefix) for name in listed), listed
    names = {name.removeprefix(prefix) for name in listed}
    assert service.settings <= names, service.settings - names
    assert names & OPTIONAL_SETTINGS == service.settings & OPTIONAL_SETTINGS, "other variants' settings"
    # Exactly the fields of the generated Settings class, so the example stays complete.
    fields = _settings_fields(service.root / "src" / service.values["packageName"])
    assert names == fields, f"missing: {fields - names}; not settings: {names - fields}"


# --- Kubernetes ---------------------------------------------------------------------------


def _manifests(service: Service, folder: str = "k8s") -> dict[str, dict[str, Any]]:
    """The files of one tree, by default the app's (its kustomization.yaml included)."""
    files = sorted((service.root / folder).glob("*.yaml"))
    return {path.name: service.yaml(f"{folder}/{path.name}") for path in files}


def _trees(service: Service) -> list[str]:
    """The folders `kustomize build` takes: the app; with Aurora, the migration Job and Argo CD's
    entry point (both)."""
    return ["k8s"] + ["k8s/migrations", "argocd"] * service.aurora


@functools.cache
def _kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl (with kustomize v4 or later built in) is not on PATH (bash .ci/run installs it)")
    return found


@functools.cache
def _kustomize(folder: Path) -> str:
    built = subprocess.run(
        [_kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, f"{folder}: {built.stderr}"
    return built.stdout


def _build(service: Service, tree: str) -> list[dict[str, Any]]:
    """The objects kustomize builds from one folder of the render (kubectl's built-in
    kustomize, with its default root-only load restrictor)."""
    return [document for document in yaml.safe_load_all(_kustomize(service.root / tree)) if document]


def _identity(manifest: dict[str, Any]) -> tuple[str, str]:
    return manifest["kind"], manifest["metadata"]["name"]


def _argocd_annotations(manifest: dict[str, Any]) -> dict[str, str]:
    annotations = manifest["metadata"].get("annotations", {})
    return {key: value for key, value in annotations.items() if key.startswith("argocd.argoproj.io/")}


def test_kubernetes_manifests_are_valid(service: Service) -> None:
    manifests = _manifests(service)
    kustomization = manifests.pop("kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    expected = {"serviceaccount.yaml", "configmap.yaml", "deployment.yaml", "service.yaml"}
    expected |= _when(not service.in_memory, "hpa.yaml", "pdb.yaml")
    expected |= _when(service.queue, "worker-deployment.yaml")
    expected |= _when(service.events, "events-consumer-deployment.yaml")
    assert set(kustomization["resources"]) == expected
    assert set(manifests) == expected
    subfolders = {path.name for path in (service.root / "k8s").iterdir() if path.is_dir()}
    assert subfolders == {"monitoring"} | _when(service.aurora, "migrations")
    assert (service.root / "argocd").exists() == service.aurora
    # Argo CD's tree holds the same objects as the other two (test_kubernetes_trees_...).
    for tree in _trees(service)[:2]:
        for manifest in _build(service, tree):
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{tree}: {_identity(manifest)}: {error.message} at {list(error.path)}")


def test_kubernetes_trees_as_kustomize_builds_them(service: Service) -> None:
    """The app tree (kubectl apply -k k8s/) has no Job; the migration tree is the Job alone;
    Argo CD's tree is both, with the Job a Sync hook between the objects its pod needs and the
    rest. Every object and pod carries the labels (Backstage's Kubernetes tab selects by
    backstage.io/kubernetes-id) and the release's image; every reference resolves."""
    name = service.values["name"]
    kustomization = _manifests(service)["kustomization.yaml"]
    (labels,) = kustomization["labels"]
    assert labels["pairs"]["backstage.io/kubernetes-id"] == name
    (image,) = kustomization["images"]
    release_image = f"{image['name']}:{image['newTag']}"
    built = {tree: _build(service, tree) for tree in _trees(service)}
    for tree, objects in built.items():
        for manifest in objects:
            where = f"{tree}: {_identity(manifest)}"
            assert labels["pairs"].items() <= manifest["metadata"]["labels"].items(), where
            template = manifest.get("spec", {}).get("template")
            if template is not None:
                assert labels["pairs"].items() <= template["metadata"]["labels"].items(), where
                selector = manifest["spec"].get("selector", {}).get("matchLabels", {})
                assert selector.items() <= template["metadata"]["labels"].items(), where
                assert "backstage.io/kubernetes-id" not in selector, f"{where}: selectors cannot change"
                images = {container["image"] for container in template["spec"]["containers"]}
                assert images == {release_image}, where
    app = {_identity(manifest): manifest for manifest in built["k8s"]}
    assert not [identity for identity in app if identity[0] == "Job"]
    assert not [identity for identity, manifest in app.items() if _argocd_annotations(manifest)]
    # Every name a pod or object refers to is an object of the app tree (or the Secret).
    objects = [manifest for tree in built.values() for manifest in tree]
    pods = [manifest for manifest in objects if manifest["kind"] in ("Deployment", "Job")]
    for manifest in pods:
        pod = manifest["spec"]["template"]["spec"]
        assert ("ServiceAccount", pod["serviceAccountName"]) in app
        for source in pod["containers"][0]["envFrom"]:
            if "configMapRef" in source:
                assert ("ConfigMap", source["configMapRef"]["name"]) in app
            else:
                assert source["secretRef"]["name"] == name
    for identity, manifest in app.items():
        if identity[0] == "HorizontalPodAutoscaler":
            target = manifest["spec"]["scaleTargetRef"]
            assert (target["kind"], target["name"]) in app
    if not service.aurora:
        return
    # The README applies these first, by selector, for the Job's pod.
    without_component = {
        identity
        for identity, manifest in app.items()
        if "app.kubernetes.io/component" not in manifest["metadata"]["labels"]
    }
    assert without_component == {("ServiceAccount", name), ("ConfigMap", name)}
    assert "kubectl apply -k k8s/ --selector '!app.kubernetes.io/component'" in service.text("README.md")
    migrations = _manifests(service, "k8s/migrations")["kustomization.yaml"]
    assert migrations["labels"] == kustomization["labels"]
    assert migrations["images"] == kustomization["images"]
    (job,) = built["k8s/migrations"]
    assert _identity(job) == ("Job", f"{name}-migrate")
    assert not _argocd_annotations(job), "kubectl users apply the Job without Argo CD's annotations"
    argocd = {_identity(manifest): manifest for manifest in built["argocd"]}
    assert set(argocd) == set(app) | {_identity(job)}
    waves = {identity: _argocd_annotations(manifest) for identity, manifest in argocd.items()}
    assert waves.pop(_identity(job)) == {
        "argocd.argoproj.io/hook": "Sync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
        "argocd.argoproj.io/sync-wave": "-1",
    }
    # What the Job's pod needs comes first (wave -2); everything else, the Deployments among
    # them, after the Job (wave 0, the default).
    needed = {("ServiceAccount", name), ("ConfigMap", name)}
    assert {identity for identity, annotations in waves.items() if annotations} == needed
    assert all(waves[identity] == {"argocd.argoproj.io/sync-wave": "-2"} for identity in needed)
    # Apart from its annotations, Argo CD's tree holds exactly the objects of the other two.
    for identity, manifest in argocd.items():
        expected = job if identity == _identity(job) else app[identity]
        assert {**manifest, "metadata": _without_annotations(manifest)} == {
            **expected,
            "metadata": _without_annotations(expected),
        }, identity


def _without_annotations(manifest: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in manifest["metadata"].items() if key != "annotations"}


def _pod_checks(pod: dict[str, Any], service: Service) -> dict[str, Any]:
    """The restricted security profile; returns the pod's only container."""
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    (tmp,) = (mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp")
    assert "emptyDir" in volumes[tmp["name"]]
    sources = [next(iter(source)) for source in container["envFrom"]]
    assert sources == ["configMapRef"] + ["secretRef"] * bool(service.secret_settings)
    return dict(container)


def test_kubernetes_deployment(service: Service) -> None:
    manifests = _manifests(service)
    name = service.values["name"]
    deployment = manifests["deployment.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    container = _pod_checks(pod, service)
    assert {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    } == {
        "startupProbe": "/health/startup",
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
    }
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    uvicorn = _exec_form("CMD", service.text("Dockerfile"))
    drain = int(uvicorn[uvicorn.index("--timeout-graceful-shutdown") + 1])
    assert pod["terminationGracePeriodSeconds"] > int(command[1]) + drain
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert manifests["service.yaml"]["spec"]["selector"].items() <= labels.items()
    if not service.in_memory:
        assert manifests["pdb.yaml"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        target = manifests["hpa.yaml"]["spec"]["scaleTargetRef"]["name"]
        assert target == deployment["metadata"]["name"] == name
    assert manifests["serviceaccount.yaml"]["automountServiceAccountToken"] is False
    environment = {variable["name"]: variable for variable in container.get("env", [])}
    datadog_labels = {key for key in labels if key.startswith("tags.datadoghq.com/")}
    if service.values["datadog"]:
        assert datadog_labels == {f"tags.datadoghq.com/{tag}" for tag in ("env", "service", "version")}
        assert environment["DD_AGENT_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
        assert {"DD_ENV", "DD_SERVICE", "DD_VERSION"} <= set(environment)
    else:
        assert not datadog_labels
        assert not environment
    prefix = service.values["envPrefix"]
    config = {key.removeprefix(prefix) for key in manifests["configmap.yaml"]["data"]}
    assert service.settings - service.secret_settings <= config
    assert not config & service.secret_settings, "secrets belong in the Secret, not the ConfigMap"


def test_kubernetes_api_replicas_follow_where_products_live(service: Service) -> None:
    """Without a database the products live in the memory of one process, so the API runs
    as one pod of one process, stopped before its replacement starts, and nothing adds pods;
    with a database the HPA owns the count (2 or more) and rollouts add a pod first."""
    manifests = _manifests(service)
    spec = manifests["deployment.yaml"]["spec"]
    kinds = {manifest["kind"] for manifest in manifests.values()}
    if service.in_memory:
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "Recreate"}
        assert not kinds & {"HorizontalPodAutoscaler", "PodDisruptionBudget"}
        # One uvicorn process per pod: the image's command and the settings ask for no more.
        assert "--workers" not in _exec_form("CMD", service.text("Dockerfile"))
        assert "WEB_CONCURRENCY" not in manifests["configmap.yaml"]["data"]
    else:
        assert "replicas" not in spec, "the HorizontalPodAutoscaler owns the replica count"
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert manifests["hpa.yaml"]["spec"]["minReplicas"] >= 2
        assert manifests["pdb.yaml"]["spec"]["maxUnavailable"] == 1


def test_kubernetes_worker_and_migrations(service: Service) -> None:
    manifests = _manifests(service)
    if service.queue:
        deployment = manifests["worker-deployment.yaml"]["spec"]
        worker = deployment["template"]["spec"]
        container = _pod_checks(worker, service)
        assert container["command"] == _worker_command(service)
        # Ready only while it consumes its queue; a rollout removes an old worker only once a
        # new one has been ready for a while, so one that cannot consume replaces none.
        readiness = ["python", "-m", f"{service.values['packageName']}.worker.readiness"]
        assert container["readinessProbe"]["exec"]["command"] == readiness
        assert container["startupProbe"]["exec"]["command"] == readiness
        package = service.root / "src" / service.values["packageName"]
        assert (package / "worker" / "readiness.py").is_file()
        assert "initialDelaySeconds" not in container["livenessProbe"], "the startupProbe gates it"
        assert deployment["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        assert deployment["minReadySeconds"] > 0
    if service.aurora:
        job = _manifests(service, "k8s/migrations")["job.yaml"]["spec"]["template"]["spec"]
        assert _pod_checks(job, service)["command"] == ["alembic", "upgrade", "head"]
        assert job["restartPolicy"] == "Never"
        assert (service.root / "alembic.ini").is_file()


def test_kubernetes_events_consumer(service: Service) -> None:
    """Probes are the consumer's file probes; SIGTERM lets the event in hand finish (its
    handler's time limit) before the pod is killed; its metrics port is the one scraped."""
    manifests = _manifests(service)
    if not service.events:
        assert "events-consumer-deployment.yaml" not in manifests
        return
    deployment = manifests["events-consumer-deployment.yaml"]["spec"]
    pod = deployment["template"]["spec"]
    container = _pod_checks(pod, service)
    assert container["command"] == _consumer_command(service)
    assert container["startupProbe"]["exec"]["command"] == _consumer_probe(service, "ready")
    assert container["readinessProbe"]["exec"]["command"] == _consumer_probe(service, "ready")
    assert container["livenessProbe"]["exec"]["command"] == _consumer_probe(service, "live")
    assert "initialDelaySeconds" not in container["livenessProbe"], "the startupProbe gates it"
    events = service.root / "src" / service.values["packageName"] / "events"
    (handler_seconds,) = re.findall(
        r"^HANDLER_TIMEOUT_SECONDS = ([\d.]+)$", (events / "consumer.py").read_text(), re.MULTILINE
    )
    assert pod["terminationGracePeriodSeconds"] > float(handler_seconds)
    main = (events / "__main__.py").read_text()
    (metrics_port,) = re.findall(r"^METRICS_PORT = (\d+)$", main, re.MULTILINE)
    annotations = deployment["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == metrics_port
    assert [port["containerPort"] for port in container["ports"]] == [int(metrics_port)]
    assert deployment["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert deployment["minReadySeconds"] > 0


# --- Catalog and docs ---------------------------------------------------------------------


def test_catalog_info_and_docs(service: Service) -> None:
    # The Component first; the API and Resources after it (tests/test_catalog_entities.py).
    entity, *others = yaml.safe_load_all(service.text("catalog-info.yaml"))
    assert [entity["kind"], *(other["kind"] for other in others)][:2] == ["Component", "API"]
    annotations = entity["metadata"]["annotations"]
    assert annotations["backstage.io/techdocs-ref"] == "dir:."
    assert annotations["github.com/project-slug"] == service.values["projectSlug"]
    assert annotations["backstage.io/source-template"] == "template:default/fastapi-service"
    spec = entity["spec"]
    assert spec["owner"] == service.values["ownerRef"]
    assert spec["lifecycle"] == service.values["lifecycle"]
    assert spec.get("system") == (service.values["systemRef"] or None)
    mkdocs = service.yaml("mkdocs.yml")
    pages = [next(iter(page.values())) for page in mkdocs["nav"]]
    assert all((service.root / "docs" / page).is_file() for page in pages)
    assert mkdocs["plugins"] == ["techdocs-core"]
    docs = "\n".join(service.text(f"docs/{page}") for page in pages) + service.text("README.md")
    # Only the chosen variant is described.
    mentions = {
        "DATABASE_URL": service.aurora,
        "alembic": service.aurora,
        "DYNAMODB_TABLE": service.values["database"] == "dynamodb",
        "REDIS_URL": service.values["cache"] != "none",
        "TASK_BROKER_URL": service.queue,
        "EVENTS_REDIS_URL": service.events,
        "JWT_ISSUER": service.values["auth"] == "jwt",
        "Datadog": bool(service.values["datadog"]),
    }
    # The tests' own server variables (TEST_REDIS_URL, TEST_DATABASE_URL) are not settings, and
    # REDIS_URL is not EVENTS_REDIS_URL.
    said = {
        word: re.search(f"(?<!TEST_)(?<!EVENTS_){re.escape(word)}", docs) is not None for word in mentions
    }
    assert said == mentions
    links = [
        (page, target)
        for page in [service.root / "README.md", *(service.root / "docs").glob("*.md")]
        for target in re.findall(r"\]\(([^):#]+\.md)\)", page.read_text(encoding="utf-8"))
    ]
    assert len(links) >= 3
    missing = [f"{page.name} -> {target}" for page, target in links if not (page.parent / target).is_file()]
    assert not missing


# --- CI workflow (copied without templating, so the same for every variant) ---------------


def test_dependabot_config_is_valid(service: Service) -> None:
    _validate_with_builtin_schema("dependabot", service.yaml(".github/dependabot.yml"))


def test_workflows_are_copied_verbatim_with_expressions_intact(services: dict[str, Service]) -> None:
    sources = {path.name: path.read_bytes() for path in (SKELETON_PATH / WORKFLOWS).iterdir()}
    assert set(sources) == {*WORKFLOW_PERMISSIONS, "template-update.sh"}
    for name in WORKFLOW_PERMISSIONS:
        assert b"${{ github.workflow }}" in sources[name]
    for service in services.values():
        copied = {path.name: path.read_bytes() for path in (service.root / WORKFLOWS).iterdir()}
        assert copied == sources


def _actions(workflow: dict[str, Any]) -> set[str]:
    return {step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step}


@pytest.mark.parametrize("name", sorted(WORKFLOW_PERMISSIONS))
def test_workflow_is_valid_least_privilege_and_pinned(name: str) -> None:
    path = SKELETON_PATH / WORKFLOWS / name
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert workflow["permissions"] == {}
    for job in workflow["jobs"].values():
        assert job["permissions"] == WORKFLOW_PERMISSIONS[name]
        for step in job["steps"]:
            assert "uses" not in step or SHA_PINNED.match(step["uses"]), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    # One version of each action across the workflows, so Dependabot bumps them together.
    ci_actions = _actions(yaml.safe_load((SKELETON_PATH / WORKFLOW).read_text(encoding="utf-8")))
    assert _actions(workflow) <= ci_actions
    checked = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    audited = subprocess.run(
        [_tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert "No findings to report" in audited.stdout + audited.stderr


def test_variants_cover_every_choice() -> None:
    def choices(submissions: list[dict[str, Any]]) -> set[tuple[str, Any]]:
        return {(key, values.get(key)) for values in submissions for key in CORE + ROTATED}

    assert choices(VARIANTS) == choices(list(all_combinations()))
    assert any(values.get("system") for values in VARIANTS)


def test_the_generated_ci_lints_openapi_with_the_oracle_s_spectral_versions() -> None:
    """The repository's linter test runs the very versions the generated workflow installs."""
    workflow = (SKELETON_PATH / WORKFLOW).read_text()
    oracle = json.loads((SKELETON_PATH.parent / "oracle" / "package.json").read_text())
    linters = ("@stoplight/spectral-cli", "@stoplight/spectral-owasp-ruleset")
    pinned = {name: re.findall(re.escape(name) + r"@([0-9][^\s\"']*)", workflow) for name in linters}

    assert pinned == {name: [oracle["dependencies"][name]] for name in linters}
