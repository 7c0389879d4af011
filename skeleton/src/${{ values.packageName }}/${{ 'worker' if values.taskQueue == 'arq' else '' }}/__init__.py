"""arq worker of the "product created" notification. Start it with:

arq ${{ values.packageName }}.worker.settings.WorkerSettings

``settings`` is arq's configuration of the worker, built from the service settings
(``queue_settings`` holds the task queue's), ``tasks`` the task, ``events`` what the API uses
to enqueue it. ``arq --check`` with the same argument exits 1 when no worker of the queue
has reported healthy lately: the liveness probe.
"""
