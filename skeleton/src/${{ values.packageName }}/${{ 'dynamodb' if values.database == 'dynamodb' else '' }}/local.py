"""A moto server in process: DynamoDB for ``ENVIRONMENT=local`` without an endpoint, over
real HTTP like the real service. moto is a development dependency, absent from the image."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..core.config import ENV_PREFIX

# moto accepts any credentials; these keep the stand-in from using (or needing) real ones.
LOCAL_ACCESS_KEY_ID = "local"
LOCAL_SECRET_ACCESS_KEY = "local"


class MotoMissingError(RuntimeError):
    """The local DynamoDB stand-in needs moto, which is not installed."""


@asynccontextmanager
async def local_moto_server() -> AsyncIterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise MotoMissingError(
            f"{ENV_PREFIX}ENVIRONMENT=local without {ENV_PREFIX}DYNAMODB_ENDPOINT_URL runs "
            "DynamoDB on moto, which is not installed: run `uv sync` (it installs the dev "
            f"dependencies) or point {ENV_PREFIX}DYNAMODB_ENDPOINT_URL at a DynamoDB."
        ) from None
    # The service logs its own requests; moto's server would add a line for each call.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        # Shutting werkzeug down waits for its poll loop: keep the event loop free meanwhile.
        await asyncio.to_thread(server.stop)
