"""Routers of the domains registered on the app itself, route by route.

Since FastAPI 0.137, ``include_router`` keeps an included router as one node of the app's
routing table that is resolved again on every request (a context per candidate route, a
lookup per nesting level). ``include_flat`` registers each path operation on the app's own
router instead, the way ``include_router`` used to, so a request is matched against a flat
list of routes, as on an app whose routes are declared with ``@app.get``.
"""

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def include_flat(app: FastAPI, router: APIRouter, *, prefix: str = "") -> None:
    """Register every path operation of ``router`` on ``app``, under ``prefix``.

    Re-created through ``app.router`` (not appended as they are) so that the app is their
    dependency-override provider: ``app.dependency_overrides`` applies to them."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"include_flat takes path operations only, not {route!r}")
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
        )
