"""The "product created" notification: what the API enqueues and what the worker delivers,
at least once, so idempotently (see ``delivery``)."""
