"""What several middlewares need to know: whether the response has started."""

from starlette.types import Message, Send


class ResponseTracker:
    """Wraps ``send``; once the response has started, an error response can no longer replace it."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
