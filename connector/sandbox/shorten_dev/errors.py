"""shorten.dev's error shape: `{"error": code, "message": text, "status": http_status}`.

400 validation errors add `details` (field -> message); 5xx add `error_id` (a UUID) so a
user can quote it. Handlers raise `ApiError`; `error_response` renders it.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from starlette.responses import JSONResponse

__all__ = [
    "ApiError",
    "BadRequest",
    "error_response",
    "rate_limited",
    "server_error",
]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    502: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error answer; `details` maps field paths to messages (400 only)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}


class BadRequest(ApiError):
    def __init__(self, details: dict[str, str], message: str = "Validation failed") -> None:
        super().__init__(400, message, details=details)


def _encodable(text: str) -> str:
    """`text` with any lone surrogate (from a JSON escape like \\ud800) written as its escape:
    a field name echoed from the request must not make the answer unencodable."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, Any] = {
        "error": _CODES.get(error.status, "bad_request"),
        "message": _encodable(error.message),
        "status": error.status,
    }
    if error.details is not None:
        body["details"] = {_encodable(k): _encodable(v) for k, v in error.details.items()}
    if error.status >= 500:
        body["error_id"] = str(uuid.uuid4())
    return JSONResponse(body, error.status, headers=error.headers)


def server_error(status: int) -> JSONResponse:
    message = {
        500: "An unexpected error occurred",
        502: "Bad gateway",
        503: "The service is temporarily unavailable; try again shortly",
    }.get(status, "Server error")
    return error_response(ApiError(status, message))


def rate_limited(message: str, retry_after: float | None, **headers: str) -> JSONResponse:
    extra = dict(headers)
    if retry_after is not None:
        extra["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return error_response(ApiError(429, message, headers=extra))
