"""arq worker. Start it with:

arq ${{ values.packageName }}.worker.settings.WorkerSettings
"""
