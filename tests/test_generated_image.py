"""Generated services' Dockerfile, built and run for real (issue 3).

Each variant is rendered, locked (``uv lock``, as its README says) and built with Buildah from
its own Dockerfile, unchanged, against the local stand-ins of ``python:X.Y-slim`` and
``ghcr.io/astral-sh/uv:0.13.9`` (``container_images``; no registry is reachable here). The
image is then checked on its files and run with Podman under the restrictions of its
Kubernetes manifests: the image's user, a read-only root filesystem with a tmpfs on /tmp, no
capabilities, no privilege escalation, and the settings of its ConfigMap plus connection URLs
to this machine's PostgreSQL, MariaDB and Redis.

The variants cover the Dockerfile's branches: Aurora (migrations copied) or not, Datadog
(``ddtrace-run``, ``DD_*`` tags) or not, each Python version, and both task queues' worker
commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from container_images import UV_IMAGE, Engine, StandIns, missing_tools, uv_binary
from scaffold.workflow import Template, resolve_parameters, run_template
from template_matrix import BASE_VALUES, TEMPLATE_PATH

VARIANTS: dict[str, dict[str, Any]] = {
    # The template's defaults: Aurora PostgreSQL with the ORM, Datadog on, Python 3.12.
    "defaults": {},
    # No database (no migrations in the image), a Redis cache, arq, no Datadog, Python 3.11.
    "none-redis-arq-py3.11": {
        "database": "none",
        "cache": "elasticache-redis",
        "taskQueue": "arq",
        "tracing": "none",
        "pythonVersion": "3.11",
    },
    # Aurora MySQL with SQLAlchemy Core, Celery, no Datadog, Python 3.13.
    "mysql-core-celery-py3.13": {
        "database": "aurora-mysql",
        "orm": "none",
        "taskQueue": "celery",
        "tracing": "none",
        "pythonVersion": "3.13",
    },
}
QUEUE_VARIANTS = [name for name, values in VARIANTS.items() if values.get("taskQueue", "none") != "none"]
AURORA = ("aurora-postgresql", "aurora-mysql")
# What `make docker-build` passes (the commit); the image's label and DD_VERSION carry it.
SERVICE_VERSION = "1.4.2-image-test"
APP_USER = "10001:10001"
PORT = 8000
DEV_TOOLS = ("pytest", "mypy", "ruff")
# Files the runtime stage may change outside /app: its user and group (useradd, groupadd).
USER_DATABASE = {
    f"etc/{name}{suffix}" for name in ("passwd", "group", "shadow", "gshadow") for suffix in ("", "-")
}
# Databases of this machine's Redis that the generated suites do not use (they use 14 and 15);
# each test has its own queue, whose keys it deletes, and cache entries expire.
CACHE_DB, BROKER_DB = 12, 13
# What uvicorn logs at the end of a clean stop.
SHUTDOWN_LOGGED = "Application shutdown complete."


@dataclass(frozen=True)
class BuiltImage:
    variant: str
    values: dict[str, Any]
    service: Path
    tag: str
    build_log: str

    @property
    def package(self) -> str:
        return str(self.values["name"]).replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return str(self.values["name"]).replace("-", "_").upper() + "_"

    @property
    def python(self) -> str:
        return str(self.values["pythonVersion"])

    @property
    def database(self) -> str:
        return str(self.values.get("database", "none"))

    def manifest(self, name: str) -> dict[str, Any]:
        document: dict[str, Any] = yaml.safe_load((self.service / "k8s" / name).read_text(encoding="utf-8"))
        return document


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    missing = missing_tools()
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the image tests build with Buildah and run with Podman "
            "(bash .ci/run installs podman buildah runc debootstrap)"
        )
    if os.geteuid() != 0:
        pytest.fail("the image tests run as root (debootstrap and Podman's rootful store)")
    scratch = tmp_path_factory.mktemp("containers")
    yield Engine.create(scratch)
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def stand_ins(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIns]:
    workdir = tmp_path_factory.mktemp("stand-ins")
    yield StandIns(engine, workdir)
    shutil.rmtree(workdir, ignore_errors=True)


def _uv(service: Path, *args: str) -> str:
    result = subprocess.run(
        [str(uv_binary()), *args],
        cwd=service,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""},
        check=False,
    )
    assert result.returncode == 0, f"uv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module", params=list(VARIANTS))
def image(
    request: pytest.FixtureRequest,
    engine: Engine,
    stand_ins: StandIns,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BuiltImage]:
    variant: str = request.param
    template = Template.load(TEMPLATE_PATH)
    values = resolve_parameters(template, {**BASE_VALUES, **VARIANTS[variant]})
    service = tmp_path_factory.mktemp(f"image-{variant}") / "service"
    service.mkdir()
    run_template(template, values, service)
    _uv(service, "lock", "--quiet")
    stand_ins.uv()
    stand_ins.python(str(values["pythonVersion"]))
    tag = f"localhost/{values['name']}:image-test-{variant}"
    engine.podman("rmi", "--force", tag, check=False)  # left over by an interrupted run
    assert not engine.image_exists(tag)
    log = engine.build(service, tag, {"SERVICE_VERSION": SERVICE_VERSION})
    built = BuiltImage(variant, values, service, tag, log)
    try:
        yield built
    finally:
        engine.podman("rmi", "--force", tag, check=False)
        shutil.rmtree(service.parent, ignore_errors=True)


# ---- The image as built


def _dockerfile_json(dockerfile: str, instruction: str) -> list[str]:
    """The exec-form argument list of the Dockerfile's (one rendered) ``instruction``."""
    joined = dockerfile.replace("\\\n", " ")
    (line,) = [line for line in joined.splitlines() if line.startswith(f"{instruction} ")]
    value: list[str] = json.loads(line[line.index("[") :])
    return value


def _env(config: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config["Config"]["Env"])


def test_image_is_the_dockerfiles_on_the_named_bases(image: BuiltImage, engine: Engine) -> None:
    dockerfile = (image.service / "Dockerfile").read_text(encoding="utf-8")
    config = engine.image_config(image.tag)
    settings = config["Config"]
    assert settings["User"] == APP_USER
    assert settings["WorkingDir"] == "/app"
    assert not settings.get("Entrypoint")
    assert settings["Cmd"] == _dockerfile_json(dockerfile, "CMD")
    assert settings["Cmd"][0] == ("ddtrace-run" if image.values["tracing"] == "datadog" else "uvicorn")
    assert f"{PORT}/tcp" in settings["ExposedPorts"]
    assert config["Healthcheck"]["Test"] == ["CMD", *_dockerfile_json(dockerfile, "HEALTHCHECK")]
    env = _env(config)
    assert env["PATH"].startswith("/app/.venv/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert settings["Labels"]["org.opencontainers.image.version"] == SERVICE_VERSION
    assert settings["Labels"]["org.opencontainers.image.title"] == image.values["name"]
    if image.values["tracing"] == "datadog":
        assert (env["DD_SERVICE"], env["DD_VERSION"]) == (image.values["name"], SERVICE_VERSION)
    else:
        assert not {name for name in env if name.startswith("DD_")}
    # Built on the stand-in: its single layer is the image's first.
    base = engine.image_config(f"docker.io/library/python:{image.python}-slim")
    assert config["RootFS"]["Layers"][0] == base["RootFS"]["Layers"][0]
    assert f"COPY --from={UV_IMAGE} /uv /usr/local/bin/uv" in dockerfile


def _runtime_packages(image: BuiltImage, python_version: str) -> dict[str, str]:
    """Name and version of every package ``uv sync --frozen --no-dev`` installs on Linux
    with CPython ``python_version``."""
    exported = _uv(
        image.service, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--format",
        "requirements-txt",
    )  # fmt: skip
    environment = {
        "python_version": image.python,
        "python_full_version": python_version,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": os.uname().machine,
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    packages: dict[str, str] = {}
    for line in exported.splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        name, version = requirement.strip().split("==")
        packages[canonicalize_name(name)] = version
    return packages


def _installed(site_packages: Path) -> dict[str, str]:
    installed: dict[str, str] = {}
    for metadata in site_packages.glob("*.dist-info/METADATA"):
        fields = dict(
            line.split(": ", 1)
            for line in metadata.read_text(encoding="utf-8").splitlines()[:10]
            if ": " in line
        )
        installed[canonicalize_name(fields["Name"])] = fields["Version"]
    return installed


def test_runtime_image_has_exactly_the_locked_runtime_packages(image: BuiltImage, engine: Engine) -> None:
    python_version = _env(engine.image_config(image.tag))["PYTHON_VERSION"]
    assert python_version.startswith(f"{image.python}.")
    expected = _runtime_packages(image, python_version)
    with engine.mounted_image(image.tag) as root:
        app = root / "app"
        site_packages = app / ".venv" / "lib" / f"python{image.python}" / "site-packages"
        installed = _installed(site_packages)
        app_entries = sorted(path.name for path in app.iterdir())
        direct_url = json.loads(
            (site_packages / f"{image.package}-0.1.0.dist-info" / "direct_url.json").read_text(
                encoding="utf-8"
            )
        )
        path_files = {path.name: path.read_text(encoding="utf-8") for path in site_packages.glob("*.pth")}
    assert installed.pop(canonicalize_name(str(image.values["name"]))) == "0.1.0"
    assert installed == expected
    assert not set(DEV_TOOLS) & set(installed)
    # The service itself is installed as a wheel, not linked to a source folder.
    assert direct_url["dir_info"] == {"editable": False}
    assert not [name for name, text in path_files.items() if "/app" in text]
    extra = ["alembic.ini", "migrations"] if image.database in AURORA else []
    assert app_entries == sorted([".venv", *extra])


def _tree(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every path below ``root`` (relative, /app excluded) with what identifies its content."""
    entries: dict[str, tuple[Any, ...]] = {}
    for directory, folders, files in os.walk(root):
        relative_dir = os.path.relpath(directory, root)
        if relative_dir == "app" or relative_dir.startswith("app/"):
            folders[:] = []
            continue
        for name in folders + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            relative = os.path.normpath(os.path.join(relative_dir, name))
            if os.path.isdir(path) and not os.path.islink(path):
                entries[relative] = ("dir", info.st_mode, info.st_uid, info.st_gid)
            elif os.path.islink(path):
                entries[relative] = ("link", os.readlink(path))
            else:
                entries[relative] = (
                    "file",
                    info.st_mode,
                    info.st_uid,
                    info.st_gid,
                    info.st_size,
                    info.st_mtime_ns,
                )
    return entries


def test_runtime_image_adds_only_the_service_and_its_user(image: BuiltImage, engine: Engine) -> None:
    """No uv, no build cache, no sources and no build tool: outside /app only the user."""
    base_reference = f"docker.io/library/python:{image.python}-slim"
    with engine.mounted_image(base_reference) as base_root:
        base = _tree(base_root)
    with engine.mounted_image(image.tag) as root:
        final = _tree(root)
        app_names = {name for _, _, files in os.walk(root / "app") for name in files}
        passwd = (root / "etc" / "passwd").read_text(encoding="utf-8").splitlines()
    changed = {path for path, entry in final.items() if base.get(path) != entry}
    removed = set(base) - set(final)
    changed_files = {path for path in changed if final[path][0] != "dir"}
    assert changed_files <= USER_DATABASE, sorted(changed_files - USER_DATABASE)
    assert {path for path in changed if final[path][0] == "dir"} <= {"app"}
    assert not removed
    (user,) = [line.split(":") for line in passwd if line.startswith("app:")]
    assert user[2:4] == ["10001", "10001"]
    assert not {"uv", "uvx"} & (app_names | {Path(path).name for path in final})
    assert not {"uv.lock", "pyproject.toml"} & app_names


_BYTECODE_CHECK = """
import importlib.util, json, os, sys
import {package}.main
checked, stale, missing = [], [], []
for name, module in sorted(sys.modules.items()):
    source = getattr(module, "__file__", None) or ""
    if not (source.startswith("/app/.venv/") and source.endswith(".py")):
        continue
    cached = importlib.util.cache_from_source(source)
    checked.append(name)
    if not os.path.exists(cached):
        missing.append(name)
        continue
    with open(cached, "rb") as handle:
        header = handle.read(16)
    flags = int.from_bytes(header[4:8], "little")
    if header[:4] != importlib.util.MAGIC_NUMBER:
        stale.append(name)
    elif flags & 1:
        with open(source, "rb") as handle:
            if header[8:16] != importlib.util.source_hash(handle.read()):
                stale.append(name)
    else:
        info = os.stat(source)
        if header[8:16] != (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (
            info.st_size & 0xFFFFFFFF
        ).to_bytes(4, "little"):
            stale.append(name)
print(json.dumps({{"checked": checked, "stale": stale, "missing": missing}}))
"""


def _restricted(read_only: bool = True) -> list[str]:
    """``podman run`` options for the Kubernetes securityContext of the generated manifests."""
    options = ["--network", "host", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    if read_only:
        options += ["--read-only", "--tmpfs", "/tmp"]
    return options


def test_bytecode_is_compiled_and_used(image: BuiltImage, engine: Engine) -> None:
    """Every module of the service and its dependencies has a .pyc, and the one the
    interpreter finds is current for its source (else it recompiles on every start)."""
    with engine.mounted_image(image.tag) as root:
        site_packages = root / "app" / ".venv" / "lib" / f"python{image.python}" / "site-packages"
        tag = f"cpython-{image.python.replace('.', '')}"
        sources = list(site_packages.rglob("*.py"))
        uncompiled = [
            str(path.relative_to(site_packages))
            for path in sources
            if not (path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").is_file()
        ]
    assert len(sources) > 500
    assert "Bytecode compiled" in image.build_log
    assert uncompiled == [], image.build_log[-3000:]
    result = engine.podman(
        "run",
        "--rm",
        *_restricted(),
        image.tag,
        "python",
        "-c",
        _BYTECODE_CHECK.format(package=image.package),
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert f"{image.package}.main" in report["checked"]
    assert len(report["checked"]) > 100
    assert (report["missing"], report["stale"]) == ([], [])


def test_runtime_user_cannot_write_the_application(image: BuiltImage, engine: Engine) -> None:
    with engine.mounted_image(image.tag) as root:
        writable_by_others = [
            str(path.relative_to(root))
            for path in [root / "app", *(root / "app").rglob("*")]
            if not path.is_symlink() and (path.lstat().st_uid != 0 or path.lstat().st_mode & 0o022)
        ]
    assert writable_by_others == []
    # Without --read-only, so only ownership and modes decide; /tmp is the control that
    # `find -writable` does see what the user can write.
    result = engine.podman(
        "run", "--rm", *_restricted(read_only=False), image.tag,
        "sh", "-c",
        "id -u; id -g; find /tmp -maxdepth 0 -writable; find /app /usr /etc -writable 2>/dev/null; true",
    )  # fmt: skip
    assert result.stdout.splitlines() == ["10001", "10001", "/tmp"]


# ---- The image running as deployed


@dataclass
class Backing:
    """The settings a pod gets (ConfigMap and Secret) and the database made for it."""

    env: dict[str, str]
    database: str | None


def _sql(kind: str, statement: str, database: str | None = None) -> str:
    if kind == "aurora-postgresql":
        command = [
            "psql",
            "-U",
            "postgres",
            "-h",
            "127.0.0.1",
            "-d",
            database or "postgres",
            "-tAc",
            statement,
        ]
    else:
        command = ["mariadb", "-uroot", "-h127.0.0.1", "--protocol=tcp", "-N", "-e", statement]
        command += [database] if database else []
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{command}: {result.stderr}"
    return result.stdout.strip()


def _redis(*command: str) -> list[str]:
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-n", str(BROKER_DB), *command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def _forget_queue(queue: str) -> None:
    """Delete the broker keys of a test's own queue: Celery's list and bindings, arq's queue
    and the jobs queued in it."""
    keys = _redis("--scan", "--pattern", f"*{queue}*")
    for key in keys:
        if _redis("type", key) == ["zset"]:
            for job in _redis("zrange", key, "0", "-1"):
                keys += [f"arq:{kind}:{job}" for kind in ("job", "result", "in-progress", "retry")]
    if keys:
        _redis("del", *keys)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def backing(image: BuiltImage) -> Iterator[Backing]:
    env = {key: str(value) for key, value in image.manifest("configmap.yaml")["data"].items()}
    prefix, suffix = image.env_prefix, secrets.token_hex(4)
    database = None
    if image.database in AURORA:
        database = f"image_test_{suffix}"
        missing = [tool for tool in ("psql", "mariadb") if shutil.which(tool) is None]
        assert not missing, f"{missing} not found (bash .ci/run installs PostgreSQL and MariaDB)"
        _sql(image.database, f"CREATE DATABASE {database}")
        driver, server = (
            ("postgresql+asyncpg", "postgres@127.0.0.1:5432")
            if image.database == "aurora-postgresql"
            else ("mysql+aiomysql", "root@127.0.0.1:3306")
        )
        env[f"{prefix}DATABASE_URL"] = f"{driver}://{server}/{database}"
    if image.values.get("cache") == "elasticache-redis":
        env[f"{prefix}REDIS_URL"] = f"redis://127.0.0.1:6379/{CACHE_DB}"
    if image.values.get("taskQueue", "none") != "none":
        env[f"{prefix}TASK_BROKER_URL"] = f"redis://127.0.0.1:6379/{BROKER_DB}"
        env[f"{prefix}TASK_QUEUE_NAME"] = f"image-test-{suffix}"
    if image.values["tracing"] == "datadog":
        # What the Deployment adds; the agent's address has nothing listening.
        env |= {
            "DD_ENV": "production",
            "DD_AGENT_HOST": "127.0.0.1",
            "DD_TRACE_AGENT_PORT": str(_closed_port()),
        }
    try:
        yield Backing(env, database)
    finally:
        if f"{prefix}TASK_BROKER_URL" in env:
            _forget_queue(f"image-test-{suffix}")
        if database is not None:
            force = " WITH (FORCE)" if image.database == "aurora-postgresql" else ""
            _sql(image.database, f"DROP DATABASE IF EXISTS {database}{force}")


def _env_options(env: dict[str, str]) -> list[str]:
    return [option for name, value in env.items() for option in ("--env", f"{name}={value}")]


@contextlib.contextmanager
def _container(engine: Engine, name: str, options: list[str], command: list[str]) -> Iterator[str]:
    engine.podman("rm", "--force", name, check=False)
    engine.podman("run", "--detach", "--name", name, *options, *command)
    try:
        yield name
    finally:
        engine.podman("rm", "--force", name, check=False)


def _state(engine: Engine, name: str) -> dict[str, Any]:
    (inspected,) = json.loads(engine.podman("container", "inspect", name).stdout)
    state: dict[str, Any] = inspected["State"]
    return state


def _logs(engine: Engine, name: str) -> str:
    result = engine.podman("logs", name, check=False)
    return result.stdout + result.stderr


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(
    path: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with _HTTP.open(request, timeout=10) as response:
            return Response(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Response(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def _wait_until_live(engine: Engine, name: str, timeout: float = 90) -> Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _request("/health/live")
        except OSError:
            if not _state(engine, name)["Running"]:
                pytest.fail(f"the container exited while starting:\n{_logs(engine, name)[-6000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"nothing answered on port {PORT} in {timeout} s:\n{_logs(engine, name)[-6000:]}")
            time.sleep(0.5)


def _port_free() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", PORT)) != 0


def _exec(engine: Engine, name: str, *command: str) -> subprocess.CompletedProcess[str]:
    return engine.podman("exec", name, *command, check=False)


def _process_status(engine: Engine, name: str) -> dict[str, str]:
    status = _exec(engine, name, "cat", "/proc/1/status").stdout
    return {key: value.strip() for key, _, value in (line.partition(":") for line in status.splitlines())}


def _stop(engine: Engine, name: str, grace_seconds: int) -> tuple[float, dict[str, Any]]:
    """SIGTERM (the image's stop signal) and the grace period of the manifest; then SIGKILL."""
    started = time.monotonic()
    engine.podman("stop", "--time", str(grace_seconds), name, timeout=grace_seconds + 60)
    return time.monotonic() - started, _state(engine, name)


def _json_logs(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def test_serves_read_only_as_deployed(image: BuiltImage, engine: Engine, backing: Backing) -> None:
    """The migration Job's command, then the image's own CMD under the Deployment's
    restrictions: probes, health check, no server header, a real write, a clean stop."""
    options = [*_restricted(), *_env_options(backing.env)]
    if image.database in AURORA:
        (job,) = image.manifest("migrations/job.yaml")["spec"]["template"]["spec"]["containers"]
        assert job["command"] == ["alembic", "upgrade", "head"]
        engine.podman("run", "--rm", *options, image.tag, *job["command"], timeout=180)
        revision = _sql(image.database, "SELECT version_num FROM alembic_version", backing.database)
        assert re.fullmatch(r"[0-9a-z_]+", revision), revision
    assert _port_free(), f"port {PORT} is taken on this machine; the image listens on it (host network)"
    name = f"image-test-{image.variant}-api"
    with _container(engine, name, options, [image.tag]):
        assert _wait_until_live(engine, name).status == 200
        live = _request("/health/live")
        ready = _request("/health/ready")
        assert (live.status, ready.status) == (200, 200), ready.body
        assert ready.json()["status"] == "ok"
        assert "server" not in live.headers
        assert "server" not in ready.headers
        # A write and a read through the whole stack (on the migrated schema where there is one).
        tenant = {"X-Tenant-ID": "image-test"}
        created = _request("/api/v1/products", "POST", {"name": "Lamp", "price": "12.50"}, tenant)
        assert created.status == 201, created.body
        product_path = "/api/v1/products/" + created.json()["id"]
        fetched = _request(product_path, headers=tenant)
        assert (fetched.status, fetched.json()["name"]) == (200, "Lamp")
        # The process: the image's CMD, its user, no capabilities, no privilege escalation.
        status = _process_status(engine, name)
        assert status["Uid"].split() == ["10001"] * 4
        assert status["Gid"].split() == ["10001"] * 4
        assert int(status["CapEff"], 16) == 0
        assert status["NoNewPrivs"] == "1"
        command_line = _exec(engine, name, "cat", "/proc/1/cmdline").stdout.split("\0")[:-1]
        config = engine.image_config(image.tag)
        cmd = config["Config"]["Cmd"]
        uvicorn_args = cmd[cmd.index("uvicorn") + 1 :]
        assert command_line[-len(uvicorn_args) :] == uvicorn_args
        assert command_line[-len(uvicorn_args) - 1].endswith("/uvicorn")
        written = _exec(engine, name, "touch", "/app/probe")
        assert written.returncode != 0
        assert "Read-only file system" in written.stderr
        assert _exec(engine, name, "touch", "/tmp/probe").returncode == 0
        # The Dockerfile's HEALTHCHECK, run by Podman inside the container. As the engine
        # judges it: unhealthy after its retries fail in a row (a run can exceed its timeout
        # on a loaded machine, compiling the standard library it imports on a read-only
        # file system).
        for _ in range(config["Healthcheck"]["Retries"]):
            health = engine.podman("healthcheck", "run", name, check=False)
            if health.returncode == 0:
                break
        assert health.returncode == 0, health.stdout + health.stderr
        assert _state(engine, name)["Health"]["Status"] == "healthy"
        if image.values["tracing"] == "datadog":
            # ddtrace-run traced the requests (log correlation IDs), sending to no agent...
            records = _json_logs(_logs(engine, name))
            traced = [r for r in records if r.get("logger") == "access" and r.get("dd.trace_id", "0") != "0"]
            # The two API requests; probes write no access line unless LOG_PROBES is set.
            api_requests = [("POST", "/api/v1/products"), ("GET", "/api/v1/products/{product_id}")]
            assert [(r["method"], r["route"]) for r in traced] == api_requests, records[-5:]
            # ...and the service keeps serving after the tracer's flushes failed.
            time.sleep(2.5)
            assert _request("/health/ready").status == 200
        grace = image.manifest("deployment.yaml")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        seconds, state = _stop(engine, name, grace)
        logs = _logs(engine, name)
        assert state["ExitCode"] == 0, logs[-4000:]
        assert seconds < 10, f"stopped after {seconds:.1f} s (grace period {grace} s)"
        assert SHUTDOWN_LOGGED in logs


@pytest.mark.parametrize("image", QUEUE_VARIANTS, indirect=True)
def test_worker_runs_as_deployed(image: BuiltImage, engine: Engine, backing: Backing) -> None:
    """The worker Deployment's command starts in the image, under the same restrictions,
    connects to this machine's Redis, passes its liveness and readiness probes and stops on
    SIGTERM."""
    spec = image.manifest("worker-deployment.yaml")["spec"]["template"]["spec"]
    (worker,) = spec["containers"]
    hostname = f"image-test-{secrets.token_hex(4)}"
    options = [*_restricted(), "--hostname", hostname, *_env_options(backing.env)]
    name = f"image-test-{image.variant}-worker"
    with _container(engine, name, options, [image.tag, *worker["command"]]):
        deadline = time.monotonic() + 90
        if image.values["taskQueue"] == "celery":
            # A broadcast through the broker that only this worker answers.
            connected = [
                "celery", "--app", f"{image.package}.worker.app", "inspect", "ping",
                "--destination", f"celery@{hostname}", "--timeout", "5",
            ]  # fmt: skip
        else:
            connected = worker["livenessProbe"]["exec"]["command"]  # arq --check: its key in Redis
        while True:
            answer = _exec(engine, name, *connected)
            if answer.returncode == 0:
                break
            if not _state(engine, name)["Running"] or time.monotonic() > deadline:
                pytest.fail(
                    f"{connected} failed: {answer.stdout}{answer.stderr}\n{_logs(engine, name)[-6000:]}"
                )
            time.sleep(1)
        if image.values["taskQueue"] == "celery":
            assert "pong" in answer.stdout
        liveness = _exec(engine, name, *worker["livenessProbe"]["exec"]["command"])
        assert liveness.returncode == 0, liveness.stdout + liveness.stderr
        # The readiness probe passes once the worker consumes (its ready file in the tmpfs /tmp).
        readiness_probe = worker["readinessProbe"]["exec"]["command"]
        while (readiness := _exec(engine, name, *readiness_probe)).returncode != 0:
            if time.monotonic() > deadline:
                pytest.fail(f"readiness probe failed: {readiness.stdout}{readiness.stderr}")
            time.sleep(1)
        status = _process_status(engine, name)
        assert status["Uid"].split() == ["10001"] * 4
        assert int(status["CapEff"], 16) == 0
        seconds, state = _stop(engine, name, spec["terminationGracePeriodSeconds"])
        assert state["ExitCode"] == 0, _logs(engine, name)[-4000:]
        assert seconds < 20
