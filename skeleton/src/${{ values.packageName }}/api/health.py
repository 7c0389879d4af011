"""Health probes for load balancers and orchestrators."""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    """Body of a successful probe."""

    status: Literal["ok"] = "ok"


@router.get("/live")
async def live() -> HealthStatus:
    """Liveness: the process serves requests. It checks no dependency, so a database outage
    does not make the orchestrator restart every replica."""
    return HealthStatus()
