"""Correlation ID: accepted when well-formed, otherwise generated, always echoed."""

import re

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
