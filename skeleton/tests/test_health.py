"""The liveness probe."""

from fastapi.testclient import TestClient


def test_liveness_probe_answers_ok(client: TestClient) -> None:
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
