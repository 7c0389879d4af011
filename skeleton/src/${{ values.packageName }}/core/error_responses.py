"""Error responses as the OpenAPI description declares them: the error envelope, and the
headers that come with it declared as headers, so clients see every answer they can get."""

from typing import Any

from .errors import ErrorEnvelope

Responses = dict[int | str, dict[str, Any]]

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def documented_error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"model": ErrorEnvelope, "description": description}
    if headers:
        response["headers"] = headers
    return response


# The request pipeline can answer these on every operation, before or around the route.
PIPELINE_RESPONSES: Responses = {
    413: documented_error("The request body exceeds the size limit (PAYLOAD_TOO_LARGE)."),
    431: documented_error("The request headers exceed the size limit (HEADERS_TOO_LARGE)."),
    500: documented_error("An unexpected error; the message reveals nothing (INTERNAL_ERROR)."),
    504: documented_error("The request did not complete within the deadline (TIMEOUT)."),
}
