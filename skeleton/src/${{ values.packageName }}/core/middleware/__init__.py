"""Pure ASGI middleware (no ``BaseHTTPMiddleware``: it breaks streaming and context
variables): one request pipeline (``pipeline.py``) runs the cross-cutting concerns, each in
its own module; ``stack.install_middleware`` installs it."""
