"""The Celery application, configured from the service settings."""

from celery import Celery

from ..core.config import get_settings


def create_celery_app() -> Celery:
    """Create the Celery app with at-least-once delivery: a task is acknowledged only after
    it has run, so tasks must be idempotent."""
    settings = get_settings()
    app = Celery(
        settings.service_name,
        # Locally without a broker URL, Celery's in-memory transport.
        broker=(
            settings.task_broker_url.get_secret_value() if settings.task_broker_url else "memory://"
        ),
        include=["${{ values.packageName }}.worker.tasks"],
    )
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
    )
    return app


app = create_celery_app()
