"""The middleware stack of the app."""

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from ..config import Settings
from ..metrics import HttpMetrics, MetricsMiddleware
from .access_log import AccessLogMiddleware
from .body_limit import BodyLimitMiddleware
from .correlation import CorrelationIdMiddleware
from .exception_guard import ExceptionGuardMiddleware
from .security_headers import SecurityHeadersMiddleware
from .timeout import TimeoutMiddleware


def install_middleware(app: FastAPI, settings: Settings, metrics: HttpMetrics) -> None:
    """From the outside in: correlation ID, security headers, metrics, access log, the
    500 guard, CORS (only with an allowlist), body limit, timeout. So every response,
    including 413, 500 and 504, carries the headers and is counted and logged."""
    # add_middleware puts each one outside those added before it.
    app.add_middleware(TimeoutMiddleware, timeout_seconds=settings.request_timeout_seconds)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.http_max_body_bytes)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Correlation-ID", "X-Tenant-ID"],
            expose_headers=["X-Correlation-ID", "Location"],
        )
    app.add_middleware(ExceptionGuardMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(
        SecurityHeadersMiddleware, hsts_max_age_seconds=settings.hsts_max_age_seconds
    )
    app.add_middleware(CorrelationIdMiddleware)
