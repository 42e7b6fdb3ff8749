"""RFC 9457 problem details: every error the service answers, in one shape.

`{"type", "title", "status", "detail", "errors": [{"field", "message"}]}` with the media type
`application/problem+json`. Connector errors, request validation, unknown routes and bugs are
all translated here, once; a bug answers 500 without its traceback or any credential.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from connector.errors import (
    ConnectorError,
    FieldError,
    InvalidConfiguration,
    InvalidInput,
)
from connector.redact import redact, redact_obj
from connector.service.models import Problem, ProblemField
from connector.service.responses import RedactedJSONResponse

__all__ = ["PROBLEM_JSON", "ServiceProblem", "install", "problem_response"]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("connector.service")

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal error",
    502: "Bad gateway",
}


class ServiceProblem(Exception):
    """An answer other than success, raised by a route."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}


def problem_response(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    problem = Problem(
        type=f"https://connector.dev/problems/{status}",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=redact(detail),
        errors=[ProblemField(field=e.field, message=redact(e.message)) for e in errors or []],
        **redact_obj(extra or {}),
    )
    headers = {"WWW-Authenticate": 'Bearer realm="connector"'} if status == 401 else None
    return RedactedJSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    return ".".join(parts) or "body"


def connector_error_status(exc: ConnectorError) -> int:
    if isinstance(exc, InvalidInput | InvalidConfiguration):
        return 422
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceProblem)
    async def _problem(request: Request, exc: ServiceProblem) -> Response:
        return problem_response(exc.status, exc.detail, exc.errors, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            FieldError(_field(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in exc.errors()
        ]
        first = errors[0] if errors else FieldError("body", "invalid")
        detail = f"{first.field}: {first.message}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem_response(422, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(exc.status_code, str(exc.detail))

    @app.exception_handler(ConnectorError)
    async def _connector(request: Request, exc: ConnectorError) -> Response:
        errors = list(getattr(exc, "errors", None) or [])
        status = connector_error_status(exc)
        if status == 500:
            log.error("%s: %s", type(exc).__name__, redact(str(exc)))
        return problem_response(status, str(exc), errors)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.error("unexpected %s: %s", type(exc).__name__, redact(str(exc)))
        return problem_response(500, "the service failed to answer; its log says why")
