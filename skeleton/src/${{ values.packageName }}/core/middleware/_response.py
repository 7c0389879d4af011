"""What several middlewares need to know: whether the response has started, and its status."""

from starlette.types import Message, Send


class ResponseTracker:
    """Wraps ``send``; once the response has started, an error response can no longer replace it.
    ``status`` stays 500 if the app fails before starting a response."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
        await self._send(message)
