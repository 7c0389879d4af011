"""The README's quick start really renders a service with the defaults and serves it, and
what it prints is for a person: the service's lines, not its libraries' chatter."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from local_http import free_port

ROOT = Path(__file__).resolve().parents[1]
QUICK_START = re.compile(r"^uv run scaffold render .*&& uv run uvicorn .*$", re.MULTILINE)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, response.read()


def test_quick_start_command_serves_the_default_service(tmp_path: Path) -> None:
    (command,) = QUICK_START.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    port = free_port()
    # Same command, with the service rendered into a temporary folder and a free port.
    command = command.replace("../orders-api", str(tmp_path / "orders-api")) + f" --port {port}"
    server = subprocess.Popen(
        command,
        shell=True,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240  # includes `uv sync` of the new service
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/health/live")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode() if server.stdout else ""
                    raise AssertionError(f"service did not come up:\n{output[-3000:]}") from None
                time.sleep(0.5)
        assert status == 200
        assert b"ok" in body
        assert (tmp_path / "orders-api" / "catalog-info.yaml").is_file()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "service started" in output, output[-3000:]
    # Alembic's start-up lines, and trace fields of a trace that does not exist.
    assert "setup plugin" not in output, output[-3000:]
    assert "dd.trace_id" not in output, output[-3000:]
