"""Caching: ElastiCache for Redis, or an in-process cache locally. A sick cache never fails a
request: every cache error is a miss."""
