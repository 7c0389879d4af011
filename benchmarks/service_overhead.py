"""What the generated service's middleware costs: its /health/live against a bare FastAPI app.

Renders the default variant with scaffold, installs it with uv, and serves both apps from
that environment with uvicorn (one worker, uvloop, httptools). wrk drives each over loopback
in alternating rounds in the same run, so machine noise hits both alike; the best round of
each is compared. Runs once with Datadog off and once with it on (ddtrace loaded, no agent).
Also times process start to the first 200.

Usage: uv run python benchmarks/service_overhead.py [--seconds 8] [--rounds 3]
Needs: wrk (Debian package `wrk`) and uv on PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scaffold.workflow import Template, run_template  # noqa: E402
from template_matrix import BASE_VALUES, TEMPLATE_PATH  # noqa: E402

PACKAGE = "orders_api"
PREFIX = "ORDERS_API_"
BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}
"""
TARGETS = {"rps_ratio_off": 0.85, "rps_ratio_on": 0.65, "p99_ratio": 1.2, "startup_seconds": 2.0}


@dataclass
class Load:
    requests_per_second: float
    p99_ms: float


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_200(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"no 200 from {url} within {timeout} s")


def _parse_wrk(output: str) -> Load:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return Load(rps, float(value) * scale)


class Server:
    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}/health/live"
        self.startup_seconds = _wait_for_200(self.url, self.process)

    def load(self, seconds: int) -> Load:
        result = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", self.url],
            capture_output=True,
            text=True,
            check=True,
        )
        return _parse_wrk(result.stdout)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def _uvicorn(venv: Path, app: str, *, factory: bool) -> list[str]:
    # The environment's own executables: `uv run` would add its start-up time to the server's.
    command = [str(venv / "bin" / "uvicorn"), app, "--loop", "uvloop", "--http", "httptools"]
    command += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    return [*command, "--factory"] if factory else command


def _compare(service_dir: Path, *, datadog: bool, seconds: int, rounds: int) -> dict[str, float]:
    env = {**os.environ, "VIRTUAL_ENV": "", f"{PREFIX}ENVIRONMENT": "local", f"{PREFIX}LOG_LEVEL": "WARNING"}
    env[f"{PREFIX}DATADOG_ENABLED"] = "true" if datadog else "false"
    env["DD_TRACE_ENABLED"] = "true" if datadog else "false"
    venv = service_dir / ".venv"
    service_command = _uvicorn(venv, f"{PACKAGE}.main:create_app", factory=True)
    bare_command = _uvicorn(venv, "bare_app:app", factory=False)
    if datadog:  # load the tracer the way the Dockerfile does, for both apps alike
        service_command = [str(venv / "bin" / "ddtrace-run"), *service_command]
        bare_command = [str(venv / "bin" / "ddtrace-run"), *bare_command]
    bare, service = Server(bare_command, service_dir, env), Server(service_command, service_dir, env)
    try:
        best: dict[str, Load] = {}
        for _ in range(rounds):
            for name, server in (("bare", bare), ("service", service)):
                measured = server.load(seconds)
                if name not in best or measured.requests_per_second > best[name].requests_per_second:
                    best[name] = measured
    finally:
        bare.stop()
        service.stop()
    label = "on " if datadog else "off"
    for name in ("bare", "service"):
        load = best[name]
        print(f"datadog {label} {name:8} {load.requests_per_second:9.0f} req/s   p99 {load.p99_ms:7.2f} ms")
    rps_ratio = best["service"].requests_per_second / best["bare"].requests_per_second
    p99_ratio = best["service"].p99_ms / best["bare"].p99_ms
    start = service.startup_seconds
    print(f"datadog {label} ratio    req/s {rps_ratio:.2f}   p99 {p99_ratio:.2f}x   start {start:.2f} s")
    return {"rps": rps_ratio, "p99": p99_ratio, "startup": service.startup_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="service-bench-"))
    try:
        service_dir = root / "service"
        service_dir.mkdir()
        run_template(Template.load(TEMPLATE_PATH), dict(BASE_VALUES), service_dir)
        (service_dir / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
        subprocess.run(
            ["uv", "sync", "--quiet"], cwd=service_dir, check=True, env={**os.environ, "VIRTUAL_ENV": ""}
        )
        off = _compare(service_dir, datadog=False, seconds=args.seconds, rounds=args.rounds)
        on = _compare(service_dir, datadog=True, seconds=args.seconds, rounds=args.rounds)
    finally:
        shutil.rmtree(root)
    verdicts = {
        f"req/s ratio, Datadog off >= {TARGETS['rps_ratio_off']}": off["rps"] >= TARGETS["rps_ratio_off"],
        f"req/s ratio, Datadog on >= {TARGETS['rps_ratio_on']}": on["rps"] >= TARGETS["rps_ratio_on"],
        f"p99 within {TARGETS['p99_ratio']}x of bare (off)": off["p99"] <= TARGETS["p99_ratio"],
        f"start to first 200 < {TARGETS['startup_seconds']} s": off["startup"] < TARGETS["startup_seconds"],
    }
    for description, met in verdicts.items():
        print(f"target {description}: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
