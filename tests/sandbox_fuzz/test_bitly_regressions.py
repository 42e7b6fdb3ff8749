"""The Bitly sandbox bugs the fuzzer found, one pinned request each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.sandbox.bitly import create_app
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig

from ._asgi import Caller, Reply, Req

NOW = 1_767_268_800.0
AUTH = (b"authorization", f"Bearer {DEMO_BITLY_TOKEN}".encode())
JSON_TYPE = (b"content-type", b"application/json")


@pytest.fixture(scope="module")
def call() -> Iterator[Caller]:
    caller = Caller(create_app(SandboxConfig(seed=1, now=lambda: NOW)))
    yield caller
    caller.close()


def _get(call: Caller, path: bytes, query: bytes = b"") -> Reply:
    return call(Req("GET", path, query, (AUTH,)))


def test_a_newline_in_the_path_gets_bitlys_answers_not_the_routers(call: Caller) -> None:
    r = _get(call, b"/v4/bitlinks/bit.ly/spring%0Asale")
    assert (r.status, r.json()["message"]) == (404, "NOT_FOUND")
    for path in (b"/v4/user%0A", b"/bit.ly/spring%0D%0Asale", b"/%0A"):
        r = _get(call, path)
        assert (r.status, r.body) == (404, b"404 page not found"), path


@pytest.mark.parametrize(
    "path",
    [
        b"/v4/groups/Bdemo000001/shorten_counts",
        b"/v4/organizations/Odemo000001/shorten_counts",
        b"/v4/groups/Bdemo000001/bitlinks/clicks",
    ],
)
def test_bad_window_parameters_are_400_everywhere(call: Caller, path: bytes) -> None:
    r = _get(call, path, b"unit=day&units=5&unit_reference=sale")
    assert r.status == 400, r.body
    assert r.json()["errors"][0]["field"] == "unit_reference"


def test_a_null_body_is_400_not_an_empty_object(call: Caller) -> None:
    r = call(Req("PATCH", b"/v4/custom_bitlinks/sbx.ly/launch", b"", (AUTH, JSON_TYPE), b"null"))
    assert r.status == 400, r.body
    assert r.json()["errors"][0]["field"] == "body"


def test_update_custom_bitlink_without_bitlink_id_names_it(call: Caller) -> None:
    r = call(Req("PATCH", b"/v4/custom_bitlinks/sbx.ly/launch", b"", (AUTH, JSON_TYPE), b"{}"))
    assert r.status == 400, r.body
    assert r.json()["errors"] == [
        {"field": "bitlink_id", "message": "is required", "error_code": "missing"}
    ]


def test_a_month_window_ending_in_december_9999_is_answered(call: Caller) -> None:
    query = b"unit=month&units=3&unit_reference=9999-12-15T00:00:00%2B0000"
    r = _get(call, b"/v4/bitlinks/bit.ly/spring-sale/clicks", query)
    assert r.status == 200, r.body
    dates = [entry["date"] for entry in r.json()["link_clicks"]]
    assert dates == [
        "9999-12-01T00:00:00+0000",
        "9999-11-01T00:00:00+0000",
        "9999-10-01T00:00:00+0000",
    ]
    assert r.json()["units"] == 3
