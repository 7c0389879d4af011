"""Security headers on every response, and no ``server`` header.

uvicorn writes its own ``server: uvicorn`` header outside the application: start it with
``--no-server-header`` (the Dockerfile does) so responses do not advertise the server.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts_max_age_seconds: int = 0) -> None:
        self.app = app
        self.headers = dict(SECURITY_HEADERS)
        if hsts_max_age_seconds > 0:
            self.headers["Strict-Transport-Security"] = (
                f"max-age={hsts_max_age_seconds}; includeSubDomains"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if "server" in headers:
                    del headers["server"]
            await send(message)

        await self.app(scope, receive, send_with_headers)
