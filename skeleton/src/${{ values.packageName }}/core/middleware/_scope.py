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
    metrics and logs do not get one label per ID; ``<unmatched>`` when no route matched.
    Routes are registered flat (``core.routing``), so the route's path is the full one."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
