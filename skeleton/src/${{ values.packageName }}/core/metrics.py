"""Prometheus metrics: request count and latency by route template, method and status.

Each app has its own registry (not the process-global one), so apps built in tests do not
share counters. ``GET /metrics`` serves it in the Prometheus text format.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

LABELS = ("method", "route", "status")


class HttpMetrics:
    """The service's metrics and their registry; add your own with ``counter()``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._counters: dict[str, Counter] = {}
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
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
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            # labels() looks the series up under a lock each time: keep them instead.
            values = (method, route, str(status))
            series = self._series[key] = (
                self.requests.labels(*values),
                self.latency.labels(*values),
            )
        requests, latency = series
        requests.inc()
        latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
