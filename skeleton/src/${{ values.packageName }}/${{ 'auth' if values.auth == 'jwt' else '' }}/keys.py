"""The keys that verify bearer tokens: the identity provider's key set (JWKS), or one PEM
public key. An unknown key ID fetches the set again (the provider rotated its keys), at most
once per refetch interval, so made-up key IDs cannot make the service hammer the provider."""

import asyncio
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import httpx2
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..core.config import ENV_PREFIX, SettingsError
from ..core.errors import ServiceUnavailable

logger = structlog.get_logger(__name__)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
VerificationKey = jwt.PyJWK | PublicKey


class KeysUnavailable(ServiceUnavailable):
    code = "AUTH_KEYS_UNAVAILABLE"
    headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}


class SigningKeys(Protocol):
    async def key_for(self, header: dict[str, Any]) -> VerificationKey:
        """The key that verifies a token with this (not yet verified) header; raises
        ``jwt.InvalidTokenError`` when there is none."""
        ...


class StaticKey:
    def __init__(self, pem: str) -> None:
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError:
            key = None
        if not isinstance(key, PublicKey):
            raise SettingsError(
                f"{ENV_PREFIX}JWT_PUBLIC_KEY must be an RSA, EC or Ed25519 public key in PEM"
            )
        self.key: PublicKey = key

    async def key_for(self, header: dict[str, Any]) -> VerificationKey:
        return self.key


class JwksKeys:
    def __init__(
        self,
        client: httpx2.AsyncClient,
        url: str,
        *,
        timeout_seconds: float,
        cache_seconds: float,
        refetch_interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = url
        self._timeout_seconds = timeout_seconds
        self._cache_seconds = cache_seconds
        self._refetch_interval_seconds = refetch_interval_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: dict[str, dict[str, Any]] | None = None
        self._parsed: dict[tuple[str, str], jwt.PyJWK] = {}
        self._fresh_until = 0.0
        self._attempted_at = 0.0
        self.fetches = 0

    async def key_for(self, header: dict[str, Any]) -> VerificationKey:
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise jwt.InvalidTokenError("the token names no key (kid)")
        algorithm = str(header.get("alg"))
        if self._keys is None or kid not in self._keys or self._clock() >= self._fresh_until:
            await self._refresh()
        if self._keys is None:
            raise KeysUnavailable("The identity provider's signing keys are unavailable.")
        cached = self._parsed.get((kid, algorithm))
        if cached is not None:
            return cached
        jwk = self._keys.get(kid)
        if jwk is None:
            raise jwt.InvalidTokenError("unknown key ID")
        # A key that names its algorithm verifies only that one; one that does not must
        # fit the token's algorithm (PyJWK refuses, e.g., an RSA key for ES256).
        if jwk.get("alg", algorithm) != algorithm or jwk.get("use", "sig") != "sig":
            raise jwt.InvalidTokenError("the key is not for this algorithm")
        try:
            key = jwt.PyJWK(jwk, algorithm=algorithm)
        except jwt.PyJWTError as error:
            raise jwt.InvalidTokenError(f"unusable key: {error}") from None
        self._parsed[(kid, algorithm)] = key
        return key

    async def _refresh(self) -> None:
        """Concurrent callers share one fetch, whatever its outcome; a failed fetch keeps
        the last key set."""
        if self._keys is not None and (
            self._clock() - self._attempted_at < self._refetch_interval_seconds
        ):
            return
        attempts = self.fetches
        async with self._lock:
            if self.fetches != attempts:
                return  # another caller fetched while this one waited for the lock
            self.fetches += 1
            self._attempted_at = self._clock()
            try:
                response = await self._client.get(self._url, timeout=self._timeout_seconds)
                response.raise_for_status()
                keys = parse_key_set(response.json())
            except (httpx2.HTTPError, ValueError) as error:
                logger.warning(
                    "JWKS fetch failed",
                    error=type(error).__name__,
                    keeping_previous_keys=self._keys is not None,
                )
                return
            self._keys = keys
            self._parsed = {}
            self._fresh_until = self._attempted_at + self._cache_seconds
            logger.info("JWKS fetched", keys=len(keys))


def parse_key_set(document: Any) -> dict[str, dict[str, Any]]:
    """The keys of a JWKS document by key ID; keys without an ID are ignored."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    return {
        key["kid"]: key
        for key in document["keys"]
        if isinstance(key, dict) and isinstance(key.get("kid"), str)
    }
