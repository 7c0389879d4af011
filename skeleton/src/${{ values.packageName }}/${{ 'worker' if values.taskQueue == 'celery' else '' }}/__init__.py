"""Celery worker. Start it with:

celery --app ${{ values.packageName }}.worker.app worker
"""
