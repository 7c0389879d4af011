"""Aurora ${{ 'PostgreSQL' if values.database == 'aurora-postgresql' else 'MySQL' }} access with SQLAlchemy's asyncio extension."""
