"""The shorten.dev sandbox bugs the fuzzer found, one pinned request each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.sandbox.config import DEMO_SHORTEN_KEY, SandboxConfig
from connector.sandbox.shorten_dev import create_app

from ._asgi import Caller, Req

AUTH = (b"authorization", f"Bearer {DEMO_SHORTEN_KEY}".encode())
JSON_TYPE = (b"content-type", b"application/json")


@pytest.fixture(scope="module")
def call() -> Iterator[Caller]:
    caller = Caller(create_app(SandboxConfig(seed=1, now=lambda: 1_767_225_600.0)))
    yield caller
    caller.close()


@pytest.mark.parametrize("path", [b"/api/v1/links/", b"/api/v1/links//", b"/nope-404//"])
def test_a_trailing_slash_is_not_found_not_redirected(call: Caller, path: bytes) -> None:
    reply = call(Req("GET", path, b"", (AUTH,)))
    assert reply.status == 404, (reply.status, reply.headers)
    if path.startswith(b"/api/"):
        assert reply.json()["status"] == 404


def test_a_page_far_past_the_end_is_empty_not_a_500(call: Caller) -> None:
    reply = call(Req("GET", b"/api/v1/links", b"page=" + b"9" * 60, (AUTH,)))
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["data"] == [] and body["total"] > 0


def test_a_field_name_with_a_lone_surrogate_is_named_escaped(call: Caller) -> None:
    body = b'{"destination_url": "https://example.com/", "\\ud800": 1}'
    reply = call(Req("POST", b"/api/v1/links", b"", (AUTH, JSON_TYPE), body))
    assert reply.status == 400, reply.body
    assert list(reply.json()["details"]) == ["\\ud800"]
