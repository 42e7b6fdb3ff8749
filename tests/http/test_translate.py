"""Translation of responses and httpx exceptions into connector.errors, table-driven."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from connector import errors as E
from connector.catalog.models import ErrorKind
from connector.http.translate import (
    DEFAULT_THROTTLE_WINDOW,
    Translator,
    error_class,
    parse_retry_after,
)

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ACTION = "bitly.get_bitlink"


@pytest.fixture
def bitly(make_app: Callable[[str], SimpleNamespace]) -> Translator:
    return Translator.for_app(make_app("bitly"), wall=lambda: NOW)


@pytest.fixture
def shorten(make_app: Callable[[str], SimpleNamespace]) -> Translator:
    return Translator.for_app(make_app("shorten_dev"), wall=lambda: NOW)


def response(
    status: int,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    text: str | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    hdrs = {"content-type": content_type, **(headers or {})}
    content = text.encode() if text is not None else json.dumps(body).encode() if body else b""
    return httpx.Response(
        status, headers=hdrs, content=content, request=httpx.Request("GET", "https://x.test/")
    )


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "applied"),
    [
        (403, {"message": "RATE_LIMIT_EXCEEDED"}, {}, E.Throttled, False),
        (403, {"message": "FORBIDDEN"}, {"X-Ratelimit-Reason": "hourly"}, E.Throttled, False),
        (429, {"message": "MONTHLY_RATE_LIMIT_EXCEEDED"}, {}, E.QuotaExhausted, False),
        (429, {"message": "BRANDED_LINK_MONTHLY_LIMIT_EXCEEDED"}, {}, E.QuotaExhausted, False),
        (429, {"message": "MONTHLY_LIMIT_EXCEEDED"}, {}, E.QuotaExhausted, False),
        (429, {"message": "RATE_LIMIT_EXCEEDED"}, {}, E.Throttled, False),
        (429, None, {}, E.Throttled, False),
        (403, {"message": "FORBIDDEN"}, {}, E.AuthenticationError, False),
        (403, {"message": "INSUFFICIENT_SCOPE"}, {}, E.PermissionDenied, False),
        (402, {"message": "UPGRADE_REQUIRED"}, {}, E.UpgradeRequired, False),
        (404, {"message": "NOT_FOUND"}, {}, E.NotFound, False),
        (410, {"message": "GONE"}, {}, E.Gone, False),
        (409, {"message": "ALREADY_EXISTS"}, {}, E.Conflict, False),
        (400, {"message": "INVALID_ARG_LONG_URL"}, {}, E.InvalidRequest, False),
        (417, {"message": "DNS_CONFIGURATION_ERROR"}, {}, E.InvalidRequest, False),
        (422, {"message": "UNPROCESSABLE_ENTITY"}, {}, E.InvalidRequest, False),
        (500, {"message": "INTERNAL_ERROR"}, {}, E.ServerError, None),
        (502, None, {}, E.ServerError, None),
        (503, {"message": "TEMPORARILY_UNAVAILABLE"}, {}, E.ServerError, False),
        (504, None, {}, E.ServerError, None),
    ],
)
def test_bitly_table(
    bitly: Translator,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: type[E.ActionError],
    applied: bool | None,
) -> None:
    err = bitly.from_response(response(status, body, headers=headers), ACTION)
    assert type(err) is expected
    assert err.write_applied is applied
    assert err.status == status
    assert str(err).startswith(f"{ACTION}: bitly answered HTTP {status}")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "unauthorized", E.AuthenticationError),
        (403, "forbidden", E.PermissionDenied),
        (404, "not_found", E.NotFound),
        (409, "conflict", E.Conflict),
        (429, "rate_limited", E.Throttled),
        (400, "bad_request", E.InvalidRequest),
        (500, "internal_error", E.ServerError),
        (503, "service_unavailable", E.ServerError),
    ],
)
def test_shorten_table(
    shorten: Translator, status: int, code: str, expected: type[E.ActionError]
) -> None:
    body = {"error": code, "message": f"{code} happened", "status": status}
    err = shorten.from_response(response(status, body), "shorten_dev.get_link")
    assert type(err) is expected
    assert err.code == code
    assert err.description == f"{code} happened"
    assert "shorten_dev.get_link" in str(err)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, E.InvalidRequest),
        (401, E.AuthenticationError),
        (402, E.UpgradeRequired),
        (403, E.PermissionDenied),
        (404, E.NotFound),
        (405, E.InvalidRequest),
        (409, E.Conflict),
        (410, E.Gone),
        (418, E.InvalidRequest),
        (429, E.Throttled),
        (501, E.ServerError),
        (507, E.ServerError),
        (302, E.FatalError),
    ],
)
def test_status_fallback_when_no_row_matches(status: int, expected: type[E.ActionError]) -> None:
    bare = Translator("api", [], Translator.for_app({}).body)
    assert type(bare.from_response(response(status), "a.b")) is expected


def test_first_matching_row_wins(bitly: Translator) -> None:
    # RATE_LIMIT_EXCEEDED is a throttle although a later row maps every 403 to a permission error.
    err = bitly.from_response(response(403, {"message": "RATE_LIMIT_EXCEEDED"}), ACTION)
    assert isinstance(err, E.Throttled)


def test_auth_error_names_the_credential_variable(bitly: Translator) -> None:
    err = bitly.from_response(response(403, {"message": "FORBIDDEN"}), ACTION)
    assert "BITLY_TOKEN" in str(err)


def test_bitly_field_errors_are_in_the_message(bitly: Translator) -> None:
    body = {
        "message": "INVALID_ARG_LONG_URL",
        "description": "The value provided is invalid.",
        "errors": [{"field": "long_url", "message": "must be a URL", "error_code": "invalid"}],
    }
    err = bitly.from_response(response(400, body), ACTION)
    assert err.code == "INVALID_ARG_LONG_URL"
    assert err.field_errors == [E.FieldError("long_url", "must be a URL", "invalid")]
    assert "long_url: must be a URL" in str(err)
    assert "The value provided is invalid." in str(err)
    assert err.to_dict()["field_errors"][0]["field"] == "long_url"


def test_shorten_details_map_is_field_errors(shorten: Translator) -> None:
    body = {
        "error": "bad_request",
        "message": "Validation failed",
        "details": {"destination_url": "must be http or https", "custom_slug": "too short"},
    }
    err = shorten.from_response(response(400, body), "shorten_dev.create_link")
    assert {f.field for f in err.field_errors} == {"destination_url", "custom_slug"}
    assert "custom_slug: too short" in str(err)


def test_text_plain_404_is_a_clear_message(bitly: Translator) -> None:
    resp = response(404, text="404 page not found", content_type="text/plain; charset=utf-8")
    err = bitly.from_response(resp, ACTION)
    assert isinstance(err, E.NotFound)
    assert str(err) == (
        f"{ACTION}: bitly answered HTTP 404 Not Found: "
        "non-JSON body (text/plain): '404 page not found'"
    )


def test_html_400_page_is_tag_stripped_and_short(bitly: Translator) -> None:
    html = (
        "<html><head><title>400 Bad Request</title><style>body{color:red}</style></head>"
        "<body><center><h1>400 Bad Request</h1></center>"
        + "<p>padding</p>" * 200
        + "</body></html>"
    )
    err = bitly.from_response(response(400, text=html, content_type="text/html"), ACTION)
    assert isinstance(err, E.InvalidRequest)
    message = str(err)
    assert "<" not in message and "color:red" not in message
    assert "400 Bad Request 400 Bad Request" in message
    assert len(message) < 320


def test_truncated_json_body_does_not_raise(bitly: Translator) -> None:
    err = bitly.from_response(response(500, text='{"message": "INTER'), ACTION)
    assert isinstance(err, E.ServerError)
    assert "INTER" in str(err)


def test_non_object_json_body(bitly: Translator) -> None:
    err = bitly.from_response(response(400, text='["a", 1]'), ACTION)
    assert isinstance(err, E.InvalidRequest)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", 30.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Thu, 01 Jan 2026 00:02:00 GMT", 120.0),
        ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header: str, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_retry_after_header_is_honoured(bitly: Translator, shorten: Translator) -> None:
    err = shorten.from_response(response(429, headers={"Retry-After": "42"}), "s.a")
    assert err.retry_after == 42.0
    assert "retry after 42s" in str(err)
    err = bitly.from_response(
        response(403, {"message": "RATE_LIMIT_EXCEEDED"}, headers={"Retry-After": "7"}), ACTION
    )
    assert err.retry_after == 7.0


def test_throttle_without_retry_after_gets_the_default_window(bitly: Translator) -> None:
    err = bitly.from_response(response(403, {"message": "RATE_LIMIT_EXCEEDED"}), ACTION)
    assert err.retry_after == DEFAULT_THROTTLE_WINDOW


def test_quota_says_not_to_wait(bitly: Translator) -> None:
    err = bitly.from_response(response(429, {"message": "MONTHLY_LIMIT_EXCEEDED"}), ACTION)
    assert not err.retryable
    assert "will not reopen" in str(err)


def test_unknown_error_kind_in_a_table_is_a_configuration_error() -> None:
    with pytest.raises(E.InvalidConfiguration, match="row 0: error: 'explode' is not one of"):
        Translator.for_app({"name": "x", "errors": [{"status": 400, "error": "explode"}]})


def test_every_error_kind_a_table_may_name_is_an_error_class() -> None:
    for kind in typing.get_args(ErrorKind):
        assert error_class(kind).kind == kind


# -- exceptions ------------------------------------------------------------------------------

REQ = httpx.Request("POST", "https://x.test/v4/shorten")


@pytest.mark.parametrize(
    ("exc", "applied"),
    [
        (httpx.ConnectError("refused", request=REQ), False),
        (httpx.ConnectTimeout("slow", request=REQ), False),
        (httpx.PoolTimeout("busy", request=REQ), False),
        (httpx.ReadError("reset", request=REQ), None),
        (httpx.RemoteProtocolError("cut", request=REQ), None),
        (httpx.ReadTimeout("slow", request=REQ), None),
        (httpx.WriteError("broken pipe", request=REQ), None),
        (httpx.WriteTimeout("slow", request=REQ), None),
    ],
)
def test_network_errors(bitly: Translator, exc: Exception, applied: bool | None) -> None:
    err = bitly.from_exception(exc, ACTION)
    assert isinstance(err, E.TransportError)
    assert err.write_applied is applied
    assert str(err).startswith(f"{ACTION}: ")
    assert type(exc).__name__ in str(err)


def _every_httpx_exception() -> list[type[Exception]]:
    return sorted(
        (
            obj
            for obj in vars(httpx).values()
            if inspect.isclass(obj) and issubclass(obj, Exception)
        ),
        key=lambda cls: cls.__name__,
    )


def _instance(cls: type[Exception]) -> Exception:
    if issubclass(cls, httpx.HTTPStatusError):
        return cls("x", request=REQ, response=httpx.Response(500, request=REQ))
    if issubclass(cls, httpx.RequestError):
        return cls("x", request=REQ)
    try:
        return cls("x")
    except TypeError:
        return cls()


@pytest.mark.parametrize("cls", _every_httpx_exception(), ids=lambda c: c.__name__)
def test_no_httpx_exception_escapes_unmapped(bitly: Translator, cls: type[Exception]) -> None:
    err = bitly.from_exception(_instance(cls), ACTION)
    assert isinstance(err, E.ConnectorError)
    assert ACTION in str(err)


def test_httpx_exception_list_is_not_empty() -> None:
    # Guards the parametrisation above against silently testing nothing.
    names = {cls.__name__ for cls in _every_httpx_exception()}
    assert {"ConnectError", "ReadTimeout", "InvalidURL", "StreamClosed"} <= names
