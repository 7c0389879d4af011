"""Health probes: liveness, readiness with critical and non-critical checks, startup."""

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.health import (
    HealthRegistry,
)
from ${{ values.packageName }}.deps import services_of


async def healthy() -> None:
    return None


async def broken() -> None:
    raise ConnectionError("db.internal:5432 refused")


async def hanging() -> None:
    await asyncio.sleep(10)


def registry_of(app: FastAPI) -> HealthRegistry:
    return services_of(app).health


def test_liveness_probe_answers_ok(client: TestClient) -> None:
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_startup_probe_is_503_before_the_lifespan_ran(app: FastAPI) -> None:
    client = TestClient(app)  # not entered: no startup

    assert client.get("/health/startup").status_code == 503
    assert client.get("/health/ready").status_code == 503


def test_startup_probe_is_200_after_the_lifespan_ran(client: TestClient) -> None:
    response = client.get("/health/startup")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_without_failing_checks(client: TestClient, app: FastAPI) -> None:
    registry_of(app).register("extra", healthy)

    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["extra"]["status"] == "ok"


def test_ready_is_503_when_a_critical_check_fails(client: TestClient, app: FastAPI) -> None:
    registry_of(app).register("database-test", broken, critical=True)

    response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    check = body["checks"]["database-test"]
    assert check["status"] == "failed"
    assert check["error"] == "ConnectionError"
    assert "db.internal" not in response.text


def test_ready_is_degraded_when_a_non_critical_check_fails(
    client: TestClient, app: FastAPI
) -> None:
    registry_of(app).register("cache-test", broken, critical=False)
    registry_of(app).register("extra", healthy)

    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache-test"]["status"] == "failed"
    assert body["checks"]["extra"]["status"] == "ok"


def test_checks_time_out_and_run_concurrently(client: TestClient, app: FastAPI) -> None:
    registry = registry_of(app)
    registry.register("slow-a", hanging, timeout_seconds=0.3)
    registry.register("slow-b", hanging, timeout_seconds=0.3, critical=False)
    registry.register("slow-c", hanging, timeout_seconds=0.3, critical=False)

    response = client.get("/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["slow-a"]["error"] == "timed out after 0.3 s"
    # Concurrent: each took about 0.3 s, the request well under their sum of 0.9 s.
    assert response.elapsed.total_seconds() < 0.8


def test_duplicate_check_name_is_refused() -> None:
    registry = HealthRegistry()
    registry.register("x", healthy)

    with pytest.raises(ValueError, match="already registered"):
        registry.register("x", healthy)
