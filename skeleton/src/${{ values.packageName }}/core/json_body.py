"""Routes that read a JSON body take only a body declared as JSON (``application/json`` or
``application/<anything>+json``); another ``Content-Type``, or none, is answered 415. Without
the check, FastAPI validates the unparsed bytes and answers 422 about a missing object."""

from typing import Annotated, Any

from fastapi import Depends, Request

from .errors import ErrorEnvelope, UnsupportedMediaTypeError

JSON_BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorEnvelope, "description": "The body is not sent as application/json."},
}


def is_json_media_type(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


async def require_json_body(request: Request) -> None:
    if not is_json_media_type(request.headers.get("content-type", "")):
        raise UnsupportedMediaTypeError(
            "The request body must be JSON, sent with Content-Type: application/json."
        )


# Declared after TenantIdDep in a route, so authentication and the rate limit come first.
JsonBodyDep = Annotated[None, Depends(require_json_body)]
