"""A database that goes away and comes back. The test starts a private server of its own
(never the shared one), stops it under the running service and starts it again: while it is
down the API and readiness answer 503 and liveness stays 200; once it is back the same
process serves again, without a restart, and the data written before is still there."""

{% if values.database == 'aurora-postgresql' %}
import glob
{% endif %}
import os
import shutil
{% if values.database == 'aurora-mysql' %}
import signal
import socket
{% endif %}
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import free_port
from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.main import create_app

pytestmark = pytest.mark.database

TenantHeaders = Callable[[str], dict[str, str]]
BASE = "/api/v1/products"
{% if values.database == 'aurora-postgresql' %}


class PrivateServer:
    """A PostgreSQL cluster in a temporary folder (``TEST_POSTGRES_BIN``, default: the newest
    ``/usr/lib/postgresql/*/bin``). PostgreSQL refuses to run as root, so as root it runs as
    the ``postgres`` user."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        self.bin = os.environ.get("TEST_POSTGRES_BIN") or (found[-1] if found else "")
        if not os.path.isfile(os.path.join(self.bin, "initdb")):
            pytest.skip("no PostgreSQL server binaries (set TEST_POSTGRES_BIN)")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.data = tempfile.mkdtemp(prefix="pg-recovery-")
        if self.as_user:
            shutil.chown(self.data, "postgres", "postgres")
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        command = [*self.as_user, os.path.join(self.bin, tool), *args]
        subprocess.run(command, check=check, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", f"{self.data}/log", "-w", "start")

    def stop(self) -> None:
        """As abruptly as a crash: no checkpoint, clients cut off."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.data, ignore_errors=True)
{% else %}


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class PrivateServer:
    """A MariaDB server in a temporary folder (``mariadbd`` and ``mariadb-install-db`` on
    PATH or in /usr/sbin), killed with SIGKILL to stop it."""

    def __init__(self) -> None:
        self.server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
        install = shutil.which("mariadb-install-db")
        if self.server is None or install is None:
            pytest.skip("no MariaDB server binaries (mariadbd, mariadb-install-db)")
        self.data = tempfile.mkdtemp(prefix="mariadb-recovery-")
        self.port = free_port()
        self.url = f"mysql+aiomysql://root@127.0.0.1:{self.port}/mysql"
        self.user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *self.user,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(self.server),
                "--no-defaults",
                f"--datadir={self.data}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.data}/mysqld.sock",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                *self.user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        """As abruptly as a crash."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
{% endif %}


@pytest.fixture
def private_server() -> Iterator[PrivateServer]:
    server = PrivateServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_outage_is_503_and_the_service_recovers_without_a_restart(
    private_server: PrivateServer,
    make_settings: Callable[..., Settings],
    migrate_database: Callable[[str], None],
    tenant_headers: TenantHeaders,
) -> None:
    migrate_database(private_server.url)
    settings = make_settings(
        database_url=SecretStr(private_server.url),
        database_connect_timeout_seconds=1.0,
        database_pool_timeout_seconds=1.0,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False, headers=tenant_headers("t")) as client:
        created = client.post(BASE, json={"name": "kept", "price": "2.50"})
        assert created.status_code == 201, created.text
        url = f"{BASE}/{created.json()['id']}"

        private_server.stop()
        read_while_down = client.get(url)
        ready_while_down = client.get("/health/ready")
        live_while_down = client.get("/health/live")

        private_server.start()
        deadline = time.monotonic() + 30
        while (read_after := client.get(url)).status_code != 200:
            assert time.monotonic() < deadline, f"no recovery: {read_after.text}"
            time.sleep(0.2)
        ready_after = client.get("/health/ready")

    assert read_while_down.status_code == 503
    assert read_while_down.json()["error"] == "SERVICE_UNAVAILABLE"
    assert ready_while_down.status_code == 503
    assert ready_while_down.json()["checks"]["database"]["status"] == "failed"
    assert live_while_down.status_code == 200
    assert read_after.json() == created.json()
    assert ready_after.status_code == 200
