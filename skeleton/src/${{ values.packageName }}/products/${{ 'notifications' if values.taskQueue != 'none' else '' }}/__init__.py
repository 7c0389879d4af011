"""The "product created" notification: what the API enqueues and what the worker delivers.

Delivery is at least once (the queue redelivers a task whose worker died), so it is made
idempotent twice over: the webhook gets the same ``Idempotency-Key`` on every attempt, and
a delivered notification is recorded in Redis (keyed by product ID) so later attempts skip it.
Failures the receiver may recover from are retried; when the retries are used up the
notification is pushed onto a dead-letter list in Redis and logged at error.
"""
