"""Correlation ID: accepted when well-formed, otherwise generated, always echoed."""

import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

HEADER = "X-Correlation-ID"


def test_generated_when_absent(client: TestClient) -> None:
    response = client.get("/health/live")

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers[HEADER])


def test_generated_ids_differ(client: TestClient) -> None:
    first = client.get("/health/live").headers[HEADER]
    second = client.get("/health/live").headers[HEADER]

    assert first != second


@pytest.mark.parametrize("value", ["abc-123", "A.b_c-9", "x" * 128])
def test_well_formed_id_is_echoed(client: TestClient, value: str) -> None:
    response = client.get("/health/live", headers={HEADER: value})

    assert response.headers[HEADER] == value


@pytest.mark.parametrize("value", ["x" * 129, "has space", "semi;colon", "a/b", ""])
def test_malformed_id_is_replaced(client: TestClient, value: str) -> None:
    response = client.get("/health/live", headers={HEADER: value})

    assert response.headers[HEADER] != value
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers[HEADER])


def test_id_is_in_error_body(client: TestClient) -> None:
    response = client.get("/no/such/route", headers={HEADER: "err-42"})

    assert response.status_code == 404
    assert response.headers[HEADER] == "err-42"
    assert response.json()["correlation_id"] == "err-42"


def test_generated_ids_are_unique_across_processes_and_forks() -> None:
    """Each process draws its own random prefix (a forked worker too), then counts."""
    probe = (
        "import os\n"
        "from ${{ values.packageName }}.core.correlation_id import new_correlation_id\n"
        "ids = [new_correlation_id() for _ in range(1000)]\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    print(*[new_correlation_id() for _ in range(1000)])\n"
        "    os._exit(0)\n"
        "os.waitpid(child, 0)\n"
        "print(*ids)\n"
    )
    ids: list[str] = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
        ids += result.stdout.split()

    assert len(ids) == 4000
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert len(set(ids)) == len(ids)
