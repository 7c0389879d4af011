"""Bearer-token verification against the identity provider's JSON Web Key Set."""

from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..core.config import Settings

bearer_scheme = HTTPBearer(auto_error=False)


class TokenVerifier:
    """Checks signature, expiry, issuer and audience; signing keys are fetched from the JWKS
    URL and cached."""

    def __init__(self, settings: Settings) -> None:
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._algorithms = settings.jwt_algorithms

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise ``jwt.PyJWTError`` if it is not acceptable."""
        signing_key = self._jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=self._algorithms,
            audience=self._audience,
            issuer=self._issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        return claims


def require_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> dict[str, Any]:
    """FastAPI dependency: the verified claims of the request's bearer token, else 401.

    It is a plain function, so FastAPI runs it in a worker thread and fetching the key set
    does not block the event loop."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Missing bearer token", challenge)
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return verifier.verify(credentials.credentials)
    except jwt.PyJWTError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Invalid bearer token", challenge
        ) from exc
