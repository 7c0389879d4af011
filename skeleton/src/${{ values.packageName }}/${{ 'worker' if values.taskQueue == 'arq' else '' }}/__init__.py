"""arq worker of the "product created" notification. Start it with:

arq ${{ values.packageName }}.worker.settings.WorkerSettings

``arq --check`` with the same argument is the liveness probe; ``python -m
${{ values.packageName }}.worker.readiness`` the readiness probe.
"""
