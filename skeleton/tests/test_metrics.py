"""Prometheus metrics by route template, method and status, one registry per app."""

from fastapi.testclient import TestClient

from ${{ values.packageName }}.core.config import Settings
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
