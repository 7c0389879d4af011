"""The shared outbound HTTP client: timeouts, retries with backoff on transient failures,
a circuit breaker, and the correlation ID{% if values.opentelemetry %} and the trace context{% endif %} on every request."""

from typing import Any

import httpx2
import structlog
from pydantic import Field
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from .circuit_breaker import CircuitBreaker
from .correlation_id import CORRELATION_ID_HEADER, get_correlation_id
from .errors import ServiceUnavailable
from .service_settings import ServiceSettings
{% if values.opentelemetry %}
from .tracing import traced_transport
{% endif %}

logger = structlog.get_logger(__name__)

# Answers worth another attempt at once: the upstream (or its gateway) is briefly down.
TRANSIENT_STATUS_CODES = frozenset({502, 503, 504})


class HttpClientSettings(ServiceSettings):
    http_client_timeout_seconds: float = Field(default=5.0, gt=0)
    http_client_retries: int = Field(default=3, ge=0, le=10)
    circuit_breaker_failure_threshold: int = Field(default=5, ge=1)
    circuit_breaker_reset_seconds: float = Field(default=30.0, gt=0)


class UpstreamUnavailable(ServiceUnavailable):
    code = "UPSTREAM_UNAVAILABLE"


class _TransientStatusError(Exception):
    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(f"transient status {response.status_code}")
        self.response = response


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_transient(error: BaseException, method: str = "GET") -> bool:
    """A POST or PATCH may have been processed before a timeout or a 502/504: for those only
    failures to connect are retried."""
    if isinstance(error, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return True
    if method.upper() not in IDEMPOTENT_METHODS:
        return False
    return isinstance(error, httpx2.TransportError | _TransientStatusError)


class ResilientHttpClient:
    def __init__(
        self,
        client: httpx2.AsyncClient,
        *,
        retries: int,
        breaker: CircuitBreaker,
        backoff_initial_seconds: float = 0.1,
        backoff_max_seconds: float = 2.0,
    ) -> None:
        self.client = client
        self.retries = retries
        self.breaker = breaker
        self.backoff_initial_seconds = backoff_initial_seconds
        self.backoff_max_seconds = backoff_max_seconds

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        """An error response is returned as is (after the retries); an unreachable upstream
        raises ``UpstreamUnavailable``, an open circuit ``CircuitOpenError`` (both 503)."""
        await self.breaker.before_call()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            # Exponential backoff with full jitter, so clients do not retry in lockstep.
            wait=wait_random_exponential(
                multiplier=self.backoff_initial_seconds, max=self.backoff_max_seconds
            ),
            retry=retry_if_exception(lambda error: is_transient(error, method)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self.client.request(method, url, **kwargs)
                    if response.status_code in TRANSIENT_STATUS_CODES:
                        await response.aclose()
                        raise _TransientStatusError(response)
        except _TransientStatusError as exhausted:
            await self.breaker.record_failure()
            return exhausted.response
        except httpx2.TransportError as error:
            await self.breaker.record_failure()
            logger.warning("upstream unreachable", url=url, error=type(error).__name__)
            raise UpstreamUnavailable(
                "An upstream service could not be reached.", details={"upstream": self.breaker.name}
            ) from error
        if response.status_code >= 500:
            await self.breaker.record_failure()
        else:
            await self.breaker.record_success()
        return response

    async def get(self, url: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("POST", url, **kwargs)


async def _add_correlation_id(request: httpx2.Request) -> None:
    correlation_id = get_correlation_id()
    if correlation_id is not None and CORRELATION_ID_HEADER not in request.headers:
        request.headers[CORRELATION_ID_HEADER] = correlation_id


def create_http_client(
    settings: HttpClientSettings, transport: httpx2.AsyncBaseTransport | None = None
) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(settings.http_client_timeout_seconds),
{% if values.opentelemetry %}
        transport=traced_transport(transport),
{% else %}
        transport=transport,
{% endif %}
        headers={"User-Agent": f"{settings.service_name}/{settings.version}"},
        event_hooks={"request": [_add_correlation_id]},
    )


def create_resilient_client(
    settings: HttpClientSettings, client: httpx2.AsyncClient, name: str = "upstream"
) -> ResilientHttpClient:
    return ResilientHttpClient(
        client,
        retries=settings.http_client_retries,
        breaker=CircuitBreaker(
            name,
            failure_threshold=settings.circuit_breaker_failure_threshold,
            reset_seconds=settings.circuit_breaker_reset_seconds,
        ),
    )
