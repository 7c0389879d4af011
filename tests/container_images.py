"""Podman and Buildah for the tests that build and run generated services' images.

No container registry answers on the machines this suite runs on, so the two images the
generated Dockerfile starts from are assembled here, tagged with exactly the names the
Dockerfile uses, and every build runs with ``--pull=never``:

- ``docker.io/library/python:X.Y-slim``: a Debian bookworm root filesystem made with
  ``debootstrap --variant=minbase``, plus the shared libraries the official slim image keeps
  for CPython (``RUNTIME_PACKAGES``), and this machine's CPython X.Y build (a pyenv or other
  self-contained prefix) copied to ``/usr/local`` as the official image lays it out: the
  interpreter, the standard library without tests, the shared libpython (found through
  ``ldconfig``), the headers and pip; no other site-packages, no bytecode, no static library.
  ``ENV`` and ``CMD`` as the official image sets them (``PATH``, ``LANG=C.UTF-8``,
  ``PYTHON_VERSION``, ``python3``).
- ``ghcr.io/astral-sh/uv:0.13.9``: a scratch image with ``/uv`` and ``/uvx``, the binaries of
  the uv 0.13.9 wheel from PyPI (the uv that runs this suite, which ``.ci/run`` installs with
  pip; its version is checked), ``WORKDIR /io`` and ``ENTRYPOINT ["/uv"]`` like the real one.

Stand-ins are labelled with a digest of their recipe (this file, the CPython build, the uv
binary) and reused while the label matches, so a second run builds nothing. The Debian root
filesystem is made at most once per test session.

Podman and Buildah get a private configuration (``containers.conf``, ``storage.conf`` and
``registries.conf`` written into the state folder and passed through ``CONTAINERS_CONF``,
``CONTAINERS_STORAGE_CONF`` and ``CONTAINERS_REGISTRIES_CONF``), so no machine-wide file is
read for anything that matters or changed: the runtime is runc, cgroups are managed directly
(cgroupfs, no systemd), and containers get explicit ``nofile``/``nproc`` limits below the
machine's hard limits (the engine's defaults exceed them where root lacks
``CAP_SYS_RESOURCE``, and starting a container then fails in ``setrlimit``).

Environment:

- ``TEMPLATE_CONTAINERS_DIR``: the state folder (store and configuration); default
  ``fastapi-template-containers`` in the system's temporary folder. Delete it for a clean
  store.
- ``TEMPLATE_CONTAINERS_DRIVER``: the storage driver; default ``overlay`` (the kernel's),
  ``vfs`` where the state folder is itself on an overlay file system.
- ``TEMPLATE_CPYTHON_3XY``: the prefix of the CPython X.Y build to use (default: the newest
  ``$PYENV_ROOT/versions/X.Y.*``, else what ``uv python find`` reports).
- ``DEBIAN_MIRROR``: the Debian mirror for debootstrap (default ``http://deb.debian.org/debian``).
- ``SSL_CERT_FILE``: where the machine's own egress re-signs TLS (as here), build steps see
  this bundle as the image's ``/etc/ssl/certs/ca-certificates.crt`` and uv is told to use the
  system's certificates (``system-certs`` in a uv.toml of a ``/root`` mounted for the build).
  Both are bind mounts of the build steps only: nothing of them is committed to any layer.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UV_VERSION = "0.13.9"
UV_IMAGE = f"ghcr.io/astral-sh/uv:{UV_VERSION}"
DEBIAN_SUITE = "bookworm"
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"
# What the official python:X.Y-slim (bookworm) keeps: ca-certificates, netbase, tzdata and the
# libraries CPython's extension modules link (ssl, sqlite3, ctypes, lzma, bz2, readline, curses,
# dbm, uuid, zlib, expat, nis).
RUNTIME_PACKAGES = (
    "ca-certificates",
    "netbase",
    "tzdata",
    "libbz2-1.0",
    "libexpat1",
    "libffi8",
    "libgdbm-compat4",
    "libgdbm6",
    "liblzma5",
    "libncursesw6",
    "libnsl2",
    "libreadline8",
    "libsqlite3-0",
    "libssl3",
    "libtinfo6",
    "libtirpc3",
    "libuuid1",
    "zlib1g",
)
# The official image's PATH (and python3 as its command).
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
# Below this machine's hard limits (ulimit -Hn is 20000 here); the engines' defaults are higher.
ULIMITS = ("nofile=4096:4096", "nproc=4096:4096")
RECIPE_LABEL = "org.fastapi-template.stand-in-recipe"
REQUIRED_TOOLS = ("podman", "buildah", "runc", "debootstrap", "tar", "ldconfig")
# Extension modules the official slim image cannot load either (no Tk libraries).
NOT_IN_SLIM = frozenset({"_tkinter"})
# Standard library parts the official image deletes.
PRUNED_NAMES = frozenset({"test", "tests", "idle_test", "__pycache__"})
PRUNED_SUFFIXES = (".pyc", ".pyo", ".a")


class ContainerToolError(AssertionError):
    """A podman, buildah or image assembly step failed; the message has its output."""


def _tail(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def _check(result: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        raise ContainerToolError(
            f"{what} failed (exit status {result.returncode}):\n"
            f"{_tail(result.stdout)}\n{_tail(result.stderr)}"
        )
    return result


def _run(command: Sequence[str | Path], timeout: float, env: dict[str, str] | None = None) -> str:
    argv = [str(part) for part in command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return _check(result, " ".join(argv)).stdout


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def _mount_fstype(path: Path) -> str:
    """The file system type of the mount that holds ``path``."""
    best, fstype = "", ""
    resolved = str(path.resolve())
    for line in Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        mountpoint = fields[1].replace("\\040", " ")
        inside = resolved == mountpoint or resolved.startswith(mountpoint.rstrip("/") + "/")
        if inside and len(mountpoint) >= len(best):
            best, fstype = mountpoint, fields[2]
    return fstype


def _state_dir() -> Path:
    configured = os.environ.get("TEMPLATE_CONTAINERS_DIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "fastapi-template-containers"


@dataclass
class Engine:
    """Podman and Buildah on a private store and configuration; ``scratch`` is this
    session's own temporary folder (build caches, mounts for builds, image tarballs)."""

    state: Path
    scratch: Path
    driver: str

    @classmethod
    def create(cls, scratch: Path) -> Engine:
        state = _state_dir()
        state.mkdir(parents=True, exist_ok=True)
        driver = os.environ.get("TEMPLATE_CONTAINERS_DRIVER") or (
            "vfs" if _mount_fstype(state) in {"overlay", "aufs"} else "overlay"
        )
        engine = cls(state=state, scratch=scratch, driver=driver)
        engine._write_configuration()
        return engine

    @property
    def configuration(self) -> Path:
        return self.state / "configuration"

    def _write_configuration(self) -> None:
        self.configuration.mkdir(exist_ok=True)
        ulimits = ", ".join(json.dumps(limit) for limit in ULIMITS)
        files = {
            "storage.conf": (
                "[storage]\n"
                f'driver = "{self.driver}"\n'
                f'graphroot = "{self.state / f"storage-{self.driver}"}"\n'
                f'runroot = "{self.state / "run"}"\n'
            ),
            "containers.conf": (
                "[containers]\n"
                f"default_ulimits = [{ulimits}]\n"
                "[engine]\n"
                'runtime = "runc"\n'
                'cgroup_manager = "cgroupfs"\n'
                'events_logger = "file"\n'
                f'tmp_dir = "{self.state / "libpod"}"\n'
            ),
            # Short names resolve as Docker resolves them: python:3.12-slim is
            # docker.io/library/python:3.12-slim.
            "registries.conf": (
                'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
            ),
        }
        for name, text in files.items():
            path = self.configuration / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")

    @property
    def environment(self) -> dict[str, str]:
        tmp = self.scratch / "tmp"
        tmp.mkdir(exist_ok=True)
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.configuration / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.configuration / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.configuration / "registries.conf"),
            # Buildah keeps RUN --mount=type=cache folders here: one cache per session.
            "TMPDIR": str(tmp),
        }

    def run(
        self, tool: str, *args: str | Path, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [tool, *(str(arg) for arg in args)]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=self.environment, check=False
        )
        return _check(result, " ".join(argv)) if check else result

    def podman(
        self, *args: str | Path, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run("podman", *args, timeout=timeout, check=check)

    def image_exists(self, reference: str) -> bool:
        return self.podman("image", "exists", reference, check=False).returncode == 0

    def image_config(self, reference: str) -> dict[str, Any]:
        (inspected,) = json.loads(self.podman("image", "inspect", reference).stdout)
        config: dict[str, Any] = inspected
        return config

    def import_tree(self, tree: Path, reference: str, changes: Sequence[str]) -> None:
        """Commit the folder ``tree`` as the single layer of image ``reference``."""
        tarball = self.scratch / f"{re.sub(r'[^A-Za-z0-9.-]+', '-', reference)}.tar"
        _run(
            ["tar", "--create", "--file", tarball, "--numeric-owner", "--directory", tree,
             "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "."],
            timeout=300,
        )  # fmt: skip
        try:
            arguments: list[str] = []
            for change in changes:
                arguments += ["--change", change]
            self.podman("import", *arguments, tarball, reference, timeout=300)
        finally:
            tarball.unlink()

    @contextlib.contextmanager
    def mounted_image(self, reference: str) -> Iterator[Path]:
        """The image's file system, read-only use only."""
        path = Path(self.podman("image", "mount", reference).stdout.strip())
        try:
            yield path
        finally:
            self.podman("image", "unmount", reference, check=False)

    def build(self, context: Path, tag: str, build_args: dict[str, str], timeout: float = 900) -> str:
        """``buildah bud`` of ``context/Dockerfile`` as is; returns the build output.

        OCI isolation with runc (what ``podman build`` uses as root), host network (the steps
        download from PyPI), the Docker image format (the OCI format has no HEALTHCHECK and
        Buildah would drop it, as Docker's builder does not), no layer cache and no pulls."""
        arguments: list[str | Path] = [
            "bud",
            "--isolation", "oci",
            "--network", "host",
            "--pull=never",
            "--layers=false",
            "--format", "docker",
        ]  # fmt: skip
        for limit in ULIMITS:
            arguments += ["--ulimit", limit]
        for name, value in build_args.items():
            arguments += ["--build-arg", f"{name}={value}"]
        arguments += self._egress_tls_mounts()
        arguments += ["--tag", tag, "--file", context / "Dockerfile", context]
        result = self.run("buildah", *arguments, timeout=timeout)
        return result.stdout + result.stderr

    def _egress_tls_mounts(self) -> list[str | Path]:
        bundle = os.environ.get("SSL_CERT_FILE")
        if not bundle or not Path(bundle).is_file():
            return []
        home = self.scratch / "build-home"
        (home / ".config" / "uv").mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        (home / ".config" / "uv" / "uv.toml").write_text("system-certs = true\n", encoding="utf-8")
        # Both targets exist in the base image, so no mount point is left in a layer.
        return [
            "--volume", f"{Path(bundle).resolve()}:/etc/ssl/certs/ca-certificates.crt:ro",
            "--volume", f"{home}:/root",
        ]  # fmt: skip


@dataclass(frozen=True)
class CPython:
    """A self-contained CPython build: ``prefix/bin/pythonX.Y`` and ``prefix/lib/pythonX.Y``."""

    prefix: Path
    version: str  # X.Y.Z

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.name.split("."))


def _describe_interpreter(executable: Path) -> CPython | None:
    probe = "import json, sys; print(json.dumps([sys.base_prefix, '%d.%d.%d' % sys.version_info[:3]]))"
    try:
        result = subprocess.run(
            [str(executable), "-I", "-c", probe], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    prefix, version = json.loads(result.stdout)
    if Path(prefix) in (Path("/usr"), Path("/")):
        return None  # a distribution's Python is spread over /usr: not a prefix to copy
    return CPython(Path(prefix), version)


def find_cpython(minor: str) -> CPython:
    """This machine's CPython ``minor`` (e.g. 3.12) build, as a self-contained prefix."""
    candidates: list[Path] = []
    configured = os.environ.get(f"TEMPLATE_CPYTHON_{minor.replace('.', '')}")
    if configured:
        candidates.append(Path(configured) / "bin" / f"python{minor}")
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    pattern = re.compile(rf"{re.escape(minor)}\.\d+")
    builds = [path for path in versions.glob(f"{minor}.*") if pattern.fullmatch(path.name)]
    candidates += [path / "bin" / f"python{minor}" for path in sorted(builds, key=_version_key, reverse=True)]
    for executable in candidates:
        python = _describe_interpreter(executable)
        if python is not None and python.minor == minor:
            return python
    found = subprocess.run(
        [str(uv_binary()), "python", "find", "--no-project", minor],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        check=False,
    )
    if found.returncode == 0 and found.stdout.strip():
        candidates.append(Path(found.stdout.strip()))
        python = _describe_interpreter(candidates[-1])
        if python is not None and python.minor == minor:
            return python
    raise ContainerToolError(
        f"no self-contained CPython {minor} build found (looked at {[str(c) for c in candidates]}); "
        f"set TEMPLATE_CPYTHON_{minor.replace('.', '')} to the prefix of one (e.g. a pyenv build)"
    )


def uv_binary() -> Path:
    """The uv running this suite (``uv run`` sets UV), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise ContainerToolError("uv is not on PATH (bash .ci/run installs it)")
    return Path(found).resolve()


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class StandIns:
    """The base images of the generated Dockerfile, made on demand and reused."""

    def __init__(self, engine: Engine, workdir: Path) -> None:
        self.engine = engine
        self.workdir = workdir
        self._rootfs: Path | None = None
        self._recipe = _file_digest(Path(__file__))
        self.built: list[str] = []  # tags made in this session (the rest were reused)
        self.debootstrap_seconds: float | None = None

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.engine.state / "stand-ins.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _current(self, reference: str, recipe: str) -> bool:
        if not self.engine.image_exists(reference):
            return False
        labels = self.engine.image_config(reference)["Config"].get("Labels") or {}
        return bool(labels.get(RECIPE_LABEL) == recipe)

    def uv(self) -> str:
        binary = uv_binary()
        uvx = binary.with_name("uvx")
        for tool in (binary, uvx):
            version = _run([tool, "--version"], timeout=30).split()
            if version[:2] != [tool.name, UV_VERSION]:
                raise ContainerToolError(
                    f"{tool} is {' '.join(version)}; the Dockerfile copies uv {UV_VERSION} "
                    f"(pip install uv=={UV_VERSION})"
                )
        recipe = _digest(self._recipe, _file_digest(binary), _file_digest(uvx))
        with self._lock():
            if not self._current(UV_IMAGE, recipe):
                tree = self.workdir / "uv-image"
                shutil.rmtree(tree, ignore_errors=True)
                tree.mkdir()
                for tool in (binary, uvx):
                    shutil.copy2(tool, tree / tool.name)
                    (tree / tool.name).chmod(0o755)
                tree.chmod(0o755)
                self.engine.import_tree(
                    tree,
                    UV_IMAGE,
                    ["WORKDIR /io", 'ENTRYPOINT ["/uv"]', f"LABEL {RECIPE_LABEL}={recipe}"],
                )
                shutil.rmtree(tree)
                self.built.append(UV_IMAGE)
        return UV_IMAGE

    def python(self, minor: str) -> str:
        reference = f"docker.io/library/python:{minor}-slim"
        python = find_cpython(minor)
        recipe = _digest(self._recipe, str(python.prefix), python.version)
        with self._lock():
            if not self._current(reference, recipe):
                tree = self.workdir / f"python-{minor}"
                shutil.rmtree(tree, ignore_errors=True)
                # Hard links: nothing of the Debian tree is modified in place (ldconfig
                # replaces its cache file), so each Python's tree shares it.
                _run(["cp", "-a", "--link", self.debian_rootfs(), tree], timeout=300)
                _install_cpython(python, tree)
                self.engine.import_tree(
                    tree,
                    reference,
                    [
                        f"ENV PATH={IMAGE_PATH}",
                        "ENV LANG=C.UTF-8",
                        f"ENV PYTHON_VERSION={python.version}",
                        'CMD ["python3"]',
                        f"LABEL {RECIPE_LABEL}={recipe}",
                    ],
                )
                shutil.rmtree(tree)
                self._verify_python(reference, python)
                self.built.append(reference)
        return reference

    def _verify_python(self, reference: str, python: CPython) -> None:
        """The stand-in's interpreter runs from /usr/local and loads its extension modules."""
        probe = (
            "import importlib, json, pathlib, sys, sysconfig\n"
            "folder = pathlib.Path(sysconfig.get_path('platstdlib')) / 'lib-dynload'\n"
            "failed = {}\n"
            "for module in sorted(folder.glob('*.so')):\n"
            "    name = module.name.split('.')[0]\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except ImportError as error:\n"
            "        failed[name] = str(error)\n"
            "print(json.dumps({'prefix': sys.prefix, 'version': sys.version.split()[0], 'failed': failed}))\n"
        )
        output = self.engine.podman(
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--user",
            "10001",
            reference,
            "python3",
            "-c",
            probe,
        ).stdout
        report = json.loads(output)
        failed = {name: error for name, error in report["failed"].items() if name not in NOT_IN_SLIM}
        if report["prefix"] != "/usr/local" or report["version"] != python.version or failed:
            raise ContainerToolError(f"stand-in {reference} is broken: {report}")

    def debian_rootfs(self) -> Path:
        """Debian bookworm minbase with the slim image's runtime libraries, made once."""
        if self._rootfs is not None:
            return self._rootfs
        rootfs = self.workdir / "debian-rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        mirror = os.environ.get("DEBIAN_MIRROR", DEFAULT_DEBIAN_MIRROR)
        started = time.monotonic()
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(RUNTIME_PACKAGES)}",
             DEBIAN_SUITE, rootfs, mirror],
            timeout=1200,
        )  # fmt: skip
        # As in Debian's slim images: no package lists or downloaded packages, no
        # documentation, manual pages or translations; no host name or resolver of this machine.
        for pattern in (
            "var/cache/apt/archives/*.deb",
            "var/lib/apt/lists/*",
            "usr/share/doc/*",
            "usr/share/man/*",
            "usr/share/info/*",
            "usr/share/locale/*",
        ):
            for path in rootfs.glob(pattern):
                if path.name in {"locale.alias", "lock", "partial"}:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        for name in ("etc/hostname", "etc/resolv.conf"):
            (rootfs / name).write_text("", encoding="utf-8")
        self.debootstrap_seconds = time.monotonic() - started
        self._rootfs = rootfs
        return rootfs


def _prune(directory: str, names: list[str]) -> set[str]:
    del directory
    return {name for name in names if name in PRUNED_NAMES or name.endswith(PRUNED_SUFFIXES)}


def _install_cpython(python: CPython, rootfs: Path) -> None:
    """Copy the build into ``rootfs/usr/local`` the way the official image has it."""
    minor, source = python.minor, python.prefix
    local = rootfs / "usr" / "local"
    (local / "bin").mkdir(parents=True, exist_ok=True)
    (local / "lib").mkdir(parents=True, exist_ok=True)
    (local / "include").mkdir(parents=True, exist_ok=True)
    # The standard library; of site-packages only pip (what else a machine's build has
    # installed is not part of python:slim).
    stdlib = source / "lib" / f"python{minor}"

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = _prune(directory, names)
        if Path(directory) == stdlib / "site-packages":
            ignored |= {
                name for name in names if not re.fullmatch(r"pip(-[^/]+\.dist-info)?|README\.txt", name)
            }
        return ignored

    shutil.copytree(stdlib, local / "lib" / f"python{minor}", symlinks=True, ignore=ignore)
    for library in (source / "lib").glob("libpython*.so*"):
        shutil.copy2(library, local / "lib" / library.name, follow_symlinks=False)
    if (source / "lib" / "pkgconfig").is_dir():
        shutil.copytree(
            source / "lib" / "pkgconfig", local / "lib" / "pkgconfig", symlinks=True, dirs_exist_ok=True
        )
    for headers in (source / "include").glob(f"python{minor}*"):
        shutil.copytree(headers, local / "include" / headers.name, symlinks=True)
    old_shebang = f"#!{source}/bin/".encode()
    for entry in (source / "bin").iterdir():
        if not re.match(r"(python|pip|pydoc|idle|2to3)", entry.name) or entry.name.endswith("-gdb.py"):
            continue
        target = local / "bin" / entry.name
        shutil.copy2(entry, target, follow_symlinks=False)
        if not target.is_symlink():
            content = target.read_bytes()
            if content.startswith(old_shebang):
                target.write_bytes(b"#!/usr/local/bin/" + content[len(old_shebang) :])
    for name in ("python3", "python"):
        if not (local / "bin" / name).exists():
            (local / "bin" / name).symlink_to(f"python{minor}")
    # The binary's run path names the build's own prefix, absent in the image: libpython is
    # found in /usr/local/lib through the loader's cache, as in the official image.
    _run(["ldconfig", "-r", rootfs], timeout=120)
