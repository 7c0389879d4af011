"""The route class that runs a handler in the request's unit of work: it opens the unit,
commits it when the handler returns and ends it (rolling back what is not committed) when
the handler or the commit raises, before the response is sent.

A dependency with ``yield`` could do the same, but FastAPI runs each one through an exit
stack and a cancel scope on every request, one of the larger costs of a product read."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from ..deps import services_of
{% if values.orm == 'sqlalchemy' %}
from .outage import unavailable_on_outage
from .session import UNIT_OF_WORK, UnitOfWork
{% else %}
from .connection import UNIT_OF_WORK, UnitOfWork
from .outage import unavailable_on_outage
{% endif %}


class TransactionalRoute(APIRoute):
    """A route whose handler runs in the request's unit of work; outages become 503.
    Requests that only read use the reader endpoint when one is configured."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_unit_of_work(request: Request) -> Response:
            database = services_of(request.app).database
            unit = UnitOfWork(database.engine_for(request.method))
            request.scope[UNIT_OF_WORK] = unit
            async with unavailable_on_outage(database):
                try:
                    # The response is built, not yet sent: a failed commit is its error.
                    response = await handle(request)
                    await unit.commit()
                finally:
                    await unit.close()
            return response

        return handle_in_unit_of_work
