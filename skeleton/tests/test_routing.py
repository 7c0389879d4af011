"""Domain routers registered route by route on the app (``include_flat``)."""

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from ${{ values.packageName }}.core.config import Settings
from ${{ values.packageName }}.core.health import HealthRegistry, health_router
from ${{ values.packageName }}.core.metrics import ServiceMetrics, metrics_router
from ${{ values.packageName }}.core.routing import ROUTE_OPTIONS, include_flat
from ${{ values.packageName }}.main import create_app
from ${{ values.packageName }}.products.router import router as products_router


def test_the_routing_table_is_flat(settings: Settings) -> None:
    app = create_app(settings)

    # An included router would be one node resolved again on every request; the one mount
    # serves the files of the API docs.
    assert all(isinstance(route, Route | Mount) for route in app.router.routes)
    mounts = [route.path for route in app.router.routes if isinstance(route, Mount)]
    assert mounts == ["/static-offline-docs"]
    paths = {route.path for route in app.router.routes if isinstance(route, APIRoute)}
    assert {"/health/live", "/metrics", "/api/v1/products/{product_id}"} <= paths


def test_the_api_is_the_same_as_with_include_router(settings: Settings) -> None:
    health, metrics = HealthRegistry(), ServiceMetrics()
    included = FastAPI(title="t", version="1")
    included.include_router(health_router(health))
    included.include_router(metrics_router(metrics))
    included.include_router(products_router, prefix="/api/v1")
    flat = FastAPI(title="t", version="1")
    include_flat(flat, health_router(health))
    include_flat(flat, metrics_router(metrics))
    include_flat(flat, products_router, prefix="/api/v1")

    assert flat.openapi() == included.openapi()


def resolved(route: APIRoute, option: str) -> object:
    """An option's value; a default left to the app is read as that default."""
    value = getattr(route, option)
    return value.value if isinstance(value, DefaultPlaceholder) else value


def test_every_route_option_is_carried_over() -> None:
    router = APIRouter()

    @router.get(
        "/items",
        status_code=202,
        tags=["items"],
        deprecated=True,
        name="items",
        max_body_size=1024,
        form_limits={"max_fields": 10},
    )
    async def items() -> dict[str, str]:
        return {}

    app = FastAPI()
    include_flat(app, router, prefix="/v1")
    (original,) = router.routes
    (flat,) = [route for route in app.router.routes if isinstance(route, APIRoute)]

    assert isinstance(original, APIRoute)
    assert {"form_limits", "max_body_size", "strict_content_type"} <= set(ROUTE_OPTIONS)
    assert {name: resolved(flat, name) for name in ROUTE_OPTIONS} == {
        name: resolved(original, name) for name in ROUTE_OPTIONS
    }
    assert flat.path == "/v1/items"


def test_only_path_operations_are_accepted() -> None:
    router = APIRouter()
    router.routes.append(Mount("/static", routes=[]))

    with pytest.raises(TypeError, match="path operations only"):
        include_flat(FastAPI(), router)
