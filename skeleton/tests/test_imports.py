"""Importing the service does no I/O: no settings read, no connection opened."""

import os
import pkgutil
import subprocess
import sys

import ${{ values.packageName }} as package
from ${{ values.packageName }}.core.config import ENV_PREFIX

PROBE = """
import importlib, socket, sys

def refuse(*args, **kwargs):
    raise AssertionError("network access at import time")

socket.socket.connect = refuse
socket.create_connection = refuse
for name in sys.argv[1:]:
    importlib.import_module(name)
"""


def test_modules_import_without_io() -> None:
    modules = [
        module.name
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    ]
    # Invalid settings: any module reading them at import would fail.
    env = {**os.environ, f"{ENV_PREFIX}LOG_LEVEL": "NOT-A-LEVEL", f"{ENV_PREFIX}ENVIRONMENT": "?"}

    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "${{ values.packageName }}.main" in modules
