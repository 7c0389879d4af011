"""Celery worker of the "product created" notification. Start it with:

celery --app ${{ values.packageName }}.worker.app worker
"""
