"""arq tasks of the service; each receives the worker context first."""

from typing import Any


async def ping(ctx: dict[str, Any]) -> str:
    """Answer "pong": shows that a worker consumes the queue."""
    return "pong"
