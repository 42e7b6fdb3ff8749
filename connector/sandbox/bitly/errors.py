"""Bitly's error answers: the JSON error body, and the plain-text 404/405 of its front end."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from connector.vendor.facts import FieldProblem

__all__ = [
    "BitlyError",
    "bad_request",
    "field_error",
    "gone",
    "method_not_allowed",
    "not_found",
    "page_not_found",
]


class BitlyError(Exception):
    """Raised by handlers; the dispatcher turns it into Bitly's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        description: str = "",
        *,
        resource: str = "",
        errors: Iterable[FieldProblem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}: {description}")
        self.status = status
        self.message = message
        self.description = description
        self.resource = resource
        self.errors = list(errors)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.resource:
            body["resource"] = self.resource
        if self.description:
            body["description"] = self.description
        if self.errors:
            body["errors"] = [
                {"field": e.field, "message": e.message, "error_code": e.error_code}
                for e in self.errors
            ]
        return body

    def response(self) -> Response:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _arg_code(field: str) -> str:
    top = field.replace("[", ".").split(".")[0] or "body"
    return "INVALID_ARG_" + "".join(c if c.isalnum() else "_" for c in top).upper()


def bad_request(problems: list[FieldProblem], resource: str = "") -> BitlyError:
    """400 naming every invalid field; `message` names the first, as Bitly does."""
    first = problems[0]
    description = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return BitlyError(400, _arg_code(first.field), description, resource=resource, errors=problems)


def field_error(field: str, message: str, resource: str = "", code: str = "invalid") -> BitlyError:
    return bad_request([FieldProblem(field, message, code)], resource)


def not_found(resource: str, what: str) -> BitlyError:
    return BitlyError(404, "NOT_FOUND", f"{what} was not found", resource=resource)


def gone(resource: str, what: str) -> BitlyError:
    return BitlyError(410, "GONE", f"{what} has been deleted", resource=resource)


def page_not_found() -> Response:
    return PlainTextResponse("404 page not found", status_code=404)


def method_not_allowed() -> Response:
    return PlainTextResponse("Method Not Allowed", status_code=405)
