"""ElastiCache for Redis access with redis-py's asyncio client."""
