"""Celery tasks of the service."""

from .app import app


@app.task
def ping() -> str:
    """Answer "pong": shows that a worker consumes the queue."""
    return "pong"
