"""Prometheus metrics by route template, method and status, one registry per app."""

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.metrics import LABELS, ServiceMetrics
from ${{ values.packageName }}.main import create_app

MISSING = "/api/v1/products/00000000-0000-0000-0000-000000000000"


def test_requests_are_counted_by_route_template(client: TestClient) -> None:
    client.get(MISSING)
    client.get(MISSING)
    client.get("/health/live")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'http_requests_total{method="GET",route="/api/v1/products/{product_id}",status="404"} 2.0'
        in text
    )
    assert 'http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in text
    assert (
        'http_request_duration_seconds_count{method="GET",route="/health/live",status="200"} 1.0'
        in text
    )
    assert "00000000-0000" not in text


def test_unmatched_routes_share_one_label(client: TestClient) -> None:
    client.get("/random/1")
    client.get("/random/2")

    text = client.get("/metrics").text

    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 2.0' in text


def test_each_app_has_its_own_registry(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first:
        first.get("/health/live")
    with TestClient(create_app(settings)) as second:
        text = second.get("/metrics").text

    assert 'route="/health/live"' not in text


def test_an_app_can_run_its_lifespan_again(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as first:
        first.get("/health/live")
    with TestClient(app) as second:
        text = second.get("/metrics").text

    assert 'http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in text


def test_exposition_matches_prometheus_client_counters_and_histograms() -> None:
    """The lock-free series render exactly as prometheus_client's own Counter and
    Histogram would for the same observations, bucket edges included."""
    durations = [0.0001, 0.005, 0.0051, 0.1, 0.3, 1.0, 9.99, 10.0, 42.0]
    metrics = ServiceMetrics()
    reference = CollectorRegistry()
    requests = Counter("http_requests", "HTTP requests handled.", LABELS, registry=reference)
    latency = Histogram(
        "http_request_duration_seconds",
        "Time to handle an HTTP request.",
        LABELS,
        registry=reference,
    )
    for index, seconds in enumerate(durations):
        status = 200 if index % 3 else 500
        metrics.observe("GET", "/things/{id}", status, seconds)
        requests.labels("GET", "/things/{id}", str(status)).inc()
        latency.labels("GET", "/things/{id}", str(status)).observe(seconds)

    def samples(text: bytes) -> list[str]:
        # prometheus_client adds *_created timestamps to its own; they cannot be equal.
        lines = text.decode().splitlines()
        return sorted(line for line in lines if not line.startswith("#") and "_created" not in line)

    assert samples(metrics.render()) == samples(generate_latest(reference))
