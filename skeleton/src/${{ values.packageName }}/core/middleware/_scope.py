"""Helpers shared by the middleware."""

from starlette.types import Scope

UNMATCHED_ROUTE = "<unmatched>"


def request_header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` in lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def route_template(scope: Scope) -> str:
    """The path template of the matched route (``/api/v1/products/{product_id}``), so
    metrics and logs do not get one label per ID; ``<unmatched>`` when no route matched."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    # FastAPI keeps the route of an included router unprefixed and records the full path
    # of the matched route separately.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        effective = getattr(fastapi_scope.get("effective_route_context"), "path", None)
        if isinstance(effective, str):
            return effective
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
