"""Since FastAPI 0.137, ``include_router`` keeps a router as one node of the app's routing
table, resolved again on every request; ``include_flat`` adds its routes to the app itself."""

import inspect

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

# Every option of ``add_api_route`` is kept on the route it makes under the same name, so
# they are copied by name: an option a later FastAPI adds is carried over too.
ROUTE_OPTIONS = tuple(
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in {"self", "path", "endpoint", "route_class_override"}
)


def include_flat(app: FastAPI, router: APIRouter, *, prefix: str = "") -> None:
    """Re-created through ``app.router`` so that ``app.dependency_overrides`` applies."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"include_flat takes path operations only, not {route!r}")
        options = {name: getattr(route, name) for name in ROUTE_OPTIONS}
        app.router.add_api_route(
            prefix + route.path, route.endpoint, route_class_override=type(route), **options
        )
