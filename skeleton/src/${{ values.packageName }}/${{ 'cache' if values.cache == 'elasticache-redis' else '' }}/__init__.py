"""Caching: ElastiCache for Redis in real environments, an in-process TTL cache locally.

A sick cache never fails a request: every cache error is a miss (counted in
``cache_bypass_total``), and the database answers instead."""
