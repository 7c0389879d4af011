"""The service's Prometheus metrics, served at ``GET /metrics``. Each app has its own registry
(not the process-global one), so apps built in tests do not share counters."""

from bisect import bisect_left
from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, ${{ 'Gauge, ' if values.events == 'redis-streams' else '' }}Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

LABELS = ("method", "route", "status")
LATENCY_BUCKETS = Histogram.DEFAULT_BUCKETS


class _RequestSeries:
    __slots__ = ("bucket_counts", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.bucket_counts = [0] * len(LATENCY_BUCKETS)


class _RequestCollector(Collector):
    def __init__(self, series: dict[tuple[str, str, int], _RequestSeries]) -> None:
        self._series = series

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("http_requests", "HTTP requests handled.", labels=LABELS)
        latency = HistogramMetricFamily(
            "http_request_duration_seconds", "Time to handle an HTTP request.", labels=LABELS
        )
        for (method, route, status), series in list(self._series.items()):
            labels = [method, route, str(status)]
            requests.add_metric(labels, series.count)
            cumulative, buckets = 0, []
            for bound, count in zip(LATENCY_BUCKETS, series.bucket_counts, strict=True):
                cumulative += count
                buckets.append((_bucket_label(bound), cumulative))
            latency.add_metric(labels, buckets, series.seconds)
        yield requests
        yield latency


def _bucket_label(bound: float) -> str:
    """``le`` as prometheus_client writes it for the default buckets."""
    return "+Inf" if bound == float("inf") else repr(bound)


class ServiceMetrics:
    """Request count and latency by method, route template and status, and the counters
    each feature adds with ``counter()``.

    Requests are counted in plain objects, turned into metrics at scrape time:
    ``prometheus_client``'s counters take a lock per update, and only the event loop
    updates these."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._counters: dict[str, Counter] = {}
{% if values.events == 'redis-streams' %}
        self._gauges: dict[str, Gauge] = {}
{% endif %}
        self._series: dict[tuple[str, str, int], _RequestSeries] = {}
        self.registry.register(_RequestCollector(self._series))

    def counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        """The app's counter of this name, created on first use: a lifespan that runs again
        (tests do that) gets the same counter instead of a duplicate-registration error."""
        if name not in self._counters:
            self._counters[name] = Counter(name, documentation, labels, registry=self.registry)
        return self._counters[name]
{% if values.events == 'redis-streams' %}

    def gauge(self, name: str, documentation: str) -> Gauge:
        """The app's gauge of this name, created on first use (as ``counter()``)."""
        if name not in self._gauges:
            self._gauges[name] = Gauge(name, documentation, registry=self.registry)
        return self._gauges[name]
{% endif %}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _RequestSeries()
        series.count += 1
        series.seconds += seconds
        series.bucket_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_router(metrics: ServiceMetrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
