"""Typed exceptions and the one error envelope of every failed request, whatever raised it
(a 500's message never reveals internals)."""

from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from .correlation_id import CORRELATION_ID_HEADER, get_correlation_id


class ErrorEnvelope(BaseModel):
    """Body of every error response (for the OpenAPI description)."""

    error: str
    message: str
    correlation_id: str | None
    details: Any = None


class ServiceError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequestError(ServiceError):
    """The request is malformed in a way the schema cannot express (a header, a cursor)."""

    status_code = 400
    code = "BAD_REQUEST"


class DuplicateHeaderError(BadRequestError):
    """A header that names one thing came more than once: which value counts is ambiguous."""

    code = "DUPLICATE_HEADER"

    def __init__(self, header: str) -> None:
        super().__init__(
            f"The {header} header must be sent once; this request sent it more than once.",
            details={"field": header},
        )


class UnsupportedMediaTypeError(ServiceError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class NotFoundError(ServiceError):
    status_code = 404
    code = "NOT_FOUND"

    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(
            f"{resource} '{identifier}' was not found.",
            details={"resource": resource, "id": str(identifier)},
        )


class ConflictError(ServiceError):
    status_code = 409
    code = "CONFLICT"


class PreconditionFailedError(ServiceError):
    status_code = 412
    code = "PRECONDITION_FAILED"


class ValidationFailed(ServiceError):  # noqa: N818 (reads as the response it becomes)
    """Input that is well-formed but breaks a business rule."""

    status_code = 422
    code = "VALIDATION_FAILED"


class ServiceUnavailable(ServiceError):  # noqa: N818 (reads as the response it becomes)
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "TOO_MANY_REQUESTS",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "TIMEOUT",
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    correlation_id = get_correlation_id()
    body: dict[str, Any] = {"error": code, "message": message, "correlation_id": correlation_id}
    if details is not None:
        body["details"] = details
    all_headers = dict(headers or {})
    if correlation_id is not None:
        all_headers.setdefault(CORRELATION_ID_HEADER, correlation_id)
    return JSONResponse(body, status_code=status_code, headers=all_headers)


def http_error_code(status_code: int) -> str:
    return HTTP_ERROR_CODES.get(status_code, f"HTTP_{status_code}")


async def handle_service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(
        exc.status_code, exc.code, exc.message, details=exc.details, headers=exc.headers
    )


def _json_problem(problem: dict[str, Any], document: object) -> dict[str, Any]:
    """A body that is not JSON: FastAPI puts the character offset where the field would be,
    so the detail names the whole body and says where parsing stopped in words."""
    offset = problem["loc"][-1]
    where = f"character {offset}"
    if isinstance(document, str) and isinstance(offset, int):
        line = document.count("\n", 0, offset) + 1
        column = offset - document.rfind("\n", 0, offset)
        where = f"line {line}, column {column}"
    reason = problem.get("ctx", {}).get("error", "JSON decode error")
    return {
        "location": "body",
        "field": "body",
        "message": f"The body is not valid JSON: {reason} at {where}.",
        "type": problem["type"],
    }


async def handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        _json_problem(problem, exc.body)
        if problem["type"] == "json_invalid"
        else {
            "location": str(problem["loc"][0]) if problem["loc"] else "request",
            "field": ".".join(str(part) for part in problem["loc"][1:]),
            "message": problem["msg"],
            "type": problem["type"],
        }
        for problem in exc.errors()
    ]
    return error_response(422, "VALIDATION_ERROR", "The request is not valid.", details=details)


async def handle_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.detail, str) and exc.detail:
        message = exc.detail
    else:
        try:
            message = HTTPStatus(exc.status_code).phrase
        except ValueError:
            message = "The request failed."
    return error_response(
        exc.status_code,
        http_error_code(exc.status_code),
        message,
        headers=dict(exc.headers or {}),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Unhandled exceptions become the 500 envelope in the request pipeline middleware."""
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
