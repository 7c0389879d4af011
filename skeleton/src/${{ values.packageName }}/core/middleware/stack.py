"""The middleware stack of the app."""

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from ..metrics import ServiceMetrics
from .access_log import AccessLog
from .pipeline import RequestPipelineMiddleware
from .settings import HttpServerSettings


def install_middleware(
    app: FastAPI, settings: HttpServerSettings, metrics: ServiceMetrics, access_log: AccessLog
) -> None:
    """The request pipeline outermost, so every response, including 413, 500 and 504,
    carries the headers and is counted and logged; CORS (only with an allowlist) inside it."""
    # add_middleware puts each one outside those added before it.
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "X-Correlation-ID",
                "X-Tenant-ID",
            ],
            expose_headers=["X-Correlation-ID", "Location", "ETag"],
        )
    app.add_middleware(
        RequestPipelineMiddleware,
        metrics=metrics,
        access_log=access_log,
        max_body_bytes=settings.http_max_body_bytes,
        max_header_bytes=settings.http_max_header_bytes,
        timeout_seconds=settings.request_timeout_seconds,
        hsts_max_age_seconds=settings.hsts_max_age_seconds,
    )
