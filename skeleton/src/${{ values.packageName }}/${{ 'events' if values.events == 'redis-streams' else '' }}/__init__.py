"""Product events: one envelope for every event, payload schemas versioned in a registry,
and the stream they are appended to (Redis Streams, or in process for local work)."""
