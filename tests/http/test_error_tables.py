"""One test per row of each app's error table (manifests/<app>/app.yaml), as shipped.

Each row gets a response built to match it; the translation must give the row's error kind,
which also proves no earlier row shadows it. Then the facts the API documents are checked
against the shipped tables as a whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from connector import errors as E
from connector.catalog import load_catalog
from connector.http.translate import Translator

CATALOG = load_catalog()
ROWS = [
    pytest.param(app, index, rule, id=f"{app}-row{index}-{rule.error}")
    for app, spec in sorted(CATALOG.apps.items())
    for index, rule in enumerate(spec.errors)
]
# Codes the APIs document, for rows that match on a pattern.
KNOWN_CODES = (
    "MONTHLY_RATE_LIMIT_EXCEEDED",
    "BRANDED_LINK_MONTHLY_LIMIT_EXCEEDED",
    "MONTHLY_LIMIT_EXCEEDED",
    "RATE_LIMIT_EXCEEDED",
    "FORBIDDEN",
    "NOT_FOUND",
    "rate_limited",
)


def body_and_headers(app: str, rule: Any) -> tuple[dict[str, Any], dict[str, str]]:
    code_key = CATALOG.apps[app].error_body.code
    code = rule.code
    if code is None and rule.code_pattern:
        code = next(c for c in KNOWN_CODES if re.search(rule.code_pattern, c))
    body = {code_key: code} if code else {}
    headers = {rule.header: "HOURLY"} if rule.header else {}
    return body, headers


@pytest.mark.parametrize(("app", "index", "rule"), ROWS)
def test_every_row_of_every_error_table(app: str, index: int, rule: Any) -> None:
    translator = Translator.for_app(CATALOG.apps[app])
    body, headers = body_and_headers(app, rule)
    for status in rule.statuses:
        response = httpx.Response(
            status,
            headers={"content-type": "application/json", **headers},
            content=json.dumps(body).encode(),
            request=httpx.Request("GET", "https://api.test/x"),
        )
        err = translator.from_response(response, f"{app}.some_action")
        assert err.kind == rule.error, f"row {index} is shadowed or mistranslated"
        assert str(err).startswith(f"{app}.some_action: ")
        if isinstance(err, E.Throttled):
            assert err.retry_after is not None and err.retry_after > 0
            assert err.write_applied is False


def test_tables_are_not_empty() -> None:
    assert {"bitly", "shorten_dev"} <= set(CATALOG.apps)
    assert all(len(spec.errors) >= 5 for spec in CATALOG.apps.values())


def _translate(app: str, status: int, body: dict[str, Any], **headers: str) -> E.ActionError:
    response = httpx.Response(
        status, json=body, headers=headers, request=httpx.Request("POST", "https://api.test/x")
    )
    return Translator.for_app(CATALOG.apps[app]).from_response(response, f"{app}.act")


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (403, {"message": "RATE_LIMIT_EXCEEDED"}, {}, E.Throttled),
        (403, {"message": "FORBIDDEN"}, {"X-Ratelimit-Reason": "hourly"}, E.Throttled),
        (403, {"message": "FORBIDDEN"}, {}, E.AuthenticationError),
        (403, {}, {}, E.AuthenticationError),
        (429, {"message": "MONTHLY_RATE_LIMIT_EXCEEDED"}, {}, E.QuotaExhausted),
        (429, {"message": "BRANDED_LINK_MONTHLY_LIMIT_EXCEEDED"}, {}, E.QuotaExhausted),
        (429, {"message": "MONTHLY_LIMIT_EXCEEDED"}, {}, E.QuotaExhausted),
        (429, {"message": "RATE_LIMIT_EXCEEDED"}, {}, E.Throttled),
        (402, {"message": "UPGRADE_REQUIRED"}, {}, E.UpgradeRequired),
        (410, {"message": "GONE"}, {}, E.Gone),
        (409, {"message": "ALREADY_EXISTS"}, {}, E.Conflict),
        (422, {"message": "UNPROCESSABLE"}, {}, E.InvalidRequest),
        (503, {"message": "TEMPORARILY_UNAVAILABLE"}, {}, E.ServerError),
    ],
)
def test_bitly_documented_semantics(
    status: int, body: dict[str, Any], headers: dict[str, str], expected: type
) -> None:
    assert type(_translate("bitly", status, body, **headers)) is expected


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "unauthorized", E.AuthenticationError),
        (403, "forbidden", E.PermissionDenied),
        (429, "rate_limited", E.Throttled),
        (409, "conflict", E.Conflict),
        (503, "service_unavailable", E.ServerError),
    ],
)
def test_shorten_documented_semantics(status: int, code: str, expected: type) -> None:
    err = _translate("shorten_dev", status, {"error": code, "message": "m", "status": status})
    assert type(err) is expected
    assert err.code == code
