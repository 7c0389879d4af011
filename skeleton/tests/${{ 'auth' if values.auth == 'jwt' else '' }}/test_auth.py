"""Authentication failures use the error envelope too."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from ${{ values.packageName }}.auth.tokens import (
    require_claims,
)


def test_missing_bearer_token_is_401_envelope(app: FastAPI) -> None:
    @app.get("/test/protected")
    def protected(claims: Annotated[dict[str, Any], Depends(require_claims)]) -> dict[str, Any]:
        return claims

    with TestClient(app) as client:
        response = client.get("/test/protected", headers={"X-Correlation-ID": "auth-1"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "error": "UNAUTHORIZED",
        "message": "Missing bearer token",
        "correlation_id": "auth-1",
    }


def test_malformed_bearer_token_is_401_envelope(app: FastAPI) -> None:
    @app.get("/test/protected")
    def protected(claims: Annotated[dict[str, Any], Depends(require_claims)]) -> dict[str, Any]:
        return claims

    with TestClient(app) as client:
        response = client.get("/test/protected", headers={"Authorization": "Bearer not-a-jwt"})

    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHORIZED"
