"""Prometheus metrics: request count and latency by route template, method and status.

Each app has its own registry (not the process-global one), so apps built in tests do not
share counters. ``GET /metrics`` serves it in the Prometheus text format.
"""

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware._response import ResponseTracker
from .middleware._scope import route_template

LABELS = ("method", "route", "status")


class HttpMetrics:
    """The service's metrics and their registry; add your own with ``counter()``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._counters: dict[str, Counter] = {}
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled.",
            LABELS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to handle an HTTP request.",
            LABELS,
            registry=self.registry,
        )

    def counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        """The app's counter of this name, created on first use: a lifespan that runs again
        (tests do that) gets the same counter instead of a duplicate-registration error."""
        if name not in self._counters:
            self._counters[name] = Counter(name, documentation, labels, registry=self.registry)
        return self._counters[name]

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = {"method": method, "route": route, "status": str(status)}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware that records every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response = ResponseTracker(send)
        try:
            await self.app(scope, receive, response.send)
        finally:
            self.metrics.observe(
                scope["method"],
                route_template(scope),
                response.status,
                time.perf_counter() - started,
            )


async def get_metrics(request: Request) -> HttpMetrics:
    """FastAPI dependency: the app's metrics."""
    metrics: HttpMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[HttpMetrics, Depends(get_metrics)]

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus scrape endpoint."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
