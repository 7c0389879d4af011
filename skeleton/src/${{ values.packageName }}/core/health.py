"""Health probes. Liveness checks nothing, so an outage of a dependency does not make the
orchestrator restart every replica; readiness answers 503 only when a critical check fails."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import structlog
from fastapi import APIRouter, Response
from pydantic import BaseModel

logger = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[object]]
# The orchestrator's probes are every route under this prefix.
PROBES_PREFIX = "/health"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    probe: Probe
    critical: bool = True
    timeout_seconds: float = 2.0


class CheckResult(BaseModel):
    status: Literal["ok", "failed"]
    critical: bool
    duration_ms: float
    error: str | None = None


class ReadinessReport(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, CheckResult]


class ProbeStatus(BaseModel):
    status: Literal["ok", "starting"]


class HealthRegistry:
    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}
        self.started = False

    def register(
        self, name: str, probe: Probe, *, critical: bool = True, timeout_seconds: float = 2.0
    ) -> None:
        """Add a check; ``probe`` raises (or times out) when the dependency is unusable."""
        if name in self._checks:
            raise ValueError(f"a health check named {name!r} is already registered")
        self._checks[name] = HealthCheck(name, probe, critical, timeout_seconds)

{% if values.database != 'none' or values.usesRedis %}
    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

{% endif %}
    def mark_started(self) -> None:
        self.started = True

    async def check(self) -> ReadinessReport:
        checks = list(self._checks.values())
        results = await asyncio.gather(*(self._run(check) for check in checks))
        by_name = {check.name: result for check, result in zip(checks, results, strict=True)}
        failed = [result for result in results if result.status == "failed"]
        status: Literal["ok", "degraded", "unavailable"] = "ok"
        if any(result.critical for result in failed):
            status = "unavailable"
        elif failed:
            status = "degraded"
        return ReadinessReport(status=status, checks=by_name)

    async def _run(self, check: HealthCheck) -> CheckResult:
        started = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(check.timeout_seconds):
                await check.probe()
        except TimeoutError:
            error = f"timed out after {check.timeout_seconds} s"
        except Exception as exc:
            # The type only: messages of driver errors can contain hosts or credentials.
            error = type(exc).__name__
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        if error is not None:
            logger.warning(
                "health check failed", check=check.name, critical=check.critical, error=error
            )
        return CheckResult(
            status="ok" if error is None else "failed",
            critical=check.critical,
            duration_ms=duration_ms,
            error=error,
        )


# Built once: the orchestrator polls liveness on every replica.
_ALIVE = ProbeStatus(status="ok")


def health_router(registry: HealthRegistry) -> APIRouter:
    router = APIRouter(prefix=PROBES_PREFIX, tags=["health"])

    @router.get("/live", summary="Liveness probe")
    async def live() -> ProbeStatus:
        """Liveness: the process serves requests."""
        return _ALIVE

    @router.get(
        "/startup",
        summary="Startup probe",
        responses={503: {"model": ProbeStatus, "description": "Still starting."}},
    )
    async def startup(response: Response) -> ProbeStatus:
        """Startup: 200 once every client has been opened."""
        if not registry.started:
            response.status_code = 503
            return ProbeStatus(status="starting")
        return ProbeStatus(status="ok")

    @router.get(
        "/ready",
        summary="Readiness probe",
        responses={
            503: {
                "model": ReadinessReport,
                "description": "Not started, or a critical check failed.",
            }
        },
    )
    async def ready(response: Response) -> ReadinessReport:
        """Readiness: the critical dependencies answer."""
        if not registry.started:
            response.status_code = 503
            return ReadinessReport(status="unavailable", checks={})
        report = await registry.check()
        if report.status == "unavailable":
            response.status_code = 503
        return report

    return router
