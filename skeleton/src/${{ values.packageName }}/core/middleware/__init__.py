"""Pure ASGI middleware (no ``BaseHTTPMiddleware``: it breaks streaming and context
variables). ``stack.install_middleware`` adds them in
the order documented there."""
