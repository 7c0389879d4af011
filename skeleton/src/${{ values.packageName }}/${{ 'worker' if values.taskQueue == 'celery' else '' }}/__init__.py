"""Celery worker of the "product created" notification. Start it with:

celery --app ${{ values.packageName }}.worker.app worker

``app`` is the worker's application, ``tasks`` the task, ``events`` what the API uses to
enqueue it, ``heartbeat`` the file the liveness probe checks, ``queue_settings`` the task
queue's settings.
"""
