"""The app's token verifier, built by the composition root (``bootstrap.py``)."""

import httpx2
import structlog

from .keys import JwksKeys, SigningKeys, StaticKey
from .local import LocalIssuer
from .settings import JwtSettings
from .tokens import TokenVerifier

logger = structlog.get_logger(__name__)


def create_token_verifier(settings: JwtSettings, client: httpx2.AsyncClient) -> TokenVerifier:
    keys: SigningKeys
    if settings.jwt_jwks_url is not None:
        keys = JwksKeys(
            client,
            settings.jwt_jwks_url,
            timeout_seconds=settings.jwt_jwks_timeout_seconds,
            cache_seconds=settings.jwt_jwks_cache_seconds,
            refetch_interval_seconds=settings.jwt_jwks_refetch_interval_seconds,
        )
    elif settings.jwt_public_key is not None:
        keys = StaticKey(settings.jwt_public_key)
    else:
        keys = LocalIssuer(settings)
        logger.warning(
            "no JWT keys configured: this local service signs its own tokens (POST /local/token)"
        )
    return TokenVerifier(settings, keys)
