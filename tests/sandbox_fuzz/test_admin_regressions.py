"""Admin endpoint bugs the fuzzer found: values that were accepted or crashed the answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.sandbox.config import SandboxConfig
from connector.sandbox.controls import Controls
from connector.sandbox.shorten_dev import create_app

from ._admin_fuzz import ADMIN, ADMIN_TOKEN
from ._asgi import Caller, Req

JSON_TYPE = (b"content-type", b"application/json")


@pytest.fixture
def call() -> Iterator[Caller]:
    caller = Caller(
        create_app(SandboxConfig(controls=Controls(admin=True, admin_token=ADMIN_TOKEN)))
    )
    yield caller
    caller.close()


@pytest.mark.parametrize(
    "body",
    [
        b'{"limits": {"\\ud800": 1}}',
        b'{"limits": {"per_endpoint": {"\\ud800": [1, 2]}}}',
        b'{"faults": {"latency_ms": NaN}}',
        b'{"faults": {"latency_ms": Infinity}}',
        b'{"faults": {"latency_ms": 1e308}}',
    ],
)
def test_refused_updates_answer_400_and_change_nothing(call: Caller, body: bytes) -> None:
    before = call(Req("GET", b"/_sandbox/controls", b"", (ADMIN,))).body
    reply = call(Req("PUT", b"/_sandbox/controls", b"", (JSON_TYPE, ADMIN), body))
    assert reply.status == 400, reply.body
    assert reply.json()["error"] == "bad_request"
    after = call(Req("GET", b"/_sandbox/controls", b"", (ADMIN,)))
    assert (after.status, after.body) == (200, before)


def test_a_lone_surrogate_is_quoted_escaped_in_the_message(call: Caller) -> None:
    reply = call(Req("PUT", b"/_sandbox/controls", b"", (JSON_TYPE, ADMIN), b'{"\\ud800": 1}'))
    assert reply.status == 400
    assert "\\ud800" in reply.json()["message"]
