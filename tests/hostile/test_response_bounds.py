"""Issue 7 point 12: a successful response is read up to a bound (8 MiB, or the action's
`max_response_bytes`), streamed, so a 400 MB answer neither fills memory nor is parsed."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest

from connector import errors as E
from connector.catalog import load_catalog
from connector.catalog.models import ActionSpec
from connector.http.client import MAX_RESPONSE_BODY
from connector.runner import ActionRunner

from .conftest import PeakGrowth

MB = 1024 * 1024
TOKEN = "tok_response_bounds_0123456789"


class Endless(httpx.AsyncByteStream):
    """`size` bytes of a JSON-looking body, produced lazily, counting what was handed out."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b'{"pad": "' + b"x" * (64 * 1024 - 9)
        while self.sent < self.size:
            self.sent += len(chunk)
            yield chunk


def _run(transport: httpx.MockTransport, action_id: str, inputs: dict, catalog=None) -> object:
    async def go() -> object:
        async with ActionRunner(
            catalog or load_catalog(),
            base_urls={"bitly": "https://api.test/v4", "shorten_dev": "https://s.test/api/v1"},
            credentials={"bitly": TOKEN, "shorten_dev": TOKEN},
            transport=transport,
        ) as runner:
            return await runner.run(action_id, inputs)

    return asyncio.run(go())


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_400_mb_success_is_refused_after_the_bound_without_being_held(declared: bool) -> None:
    streams: list[Endless] = []

    def answer(request: httpx.Request) -> httpx.Response:
        streams.append(Endless(400 * MB))
        headers = {"content-type": "application/json"}
        if declared:
            headers["content-length"] = str(400 * MB)
        return httpx.Response(200, headers=headers, stream=streams[-1])

    grown = PeakGrowth()
    with pytest.raises(E.FatalError) as info:
        _run(httpx.MockTransport(answer), "bitly.get_user", {})
    grown_mb = grown.mib()
    message = str(info.value)
    assert "larger than 8,388,608 bytes" in message and "max_response_bytes" in message
    assert message.startswith("bitly.get_user: ") and "\n" not in message
    assert streams[0].sent <= (0 if declared else MAX_RESPONSE_BODY + 64 * 1024)
    assert grown_mb < 60, f"peak RSS grew by {grown_mb:.0f} MB"
    assert info.value.write_applied is None  # a GET: nothing to apply


def test_a_gzip_bomb_is_counted_decoded() -> None:
    bomb = gzip.compress(b" " * (64 * MB))  # ~64 KB on the wire

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
            content=bomb,
        )

    with pytest.raises(E.FatalError, match="larger than"):
        _run(httpx.MockTransport(answer), "bitly.get_user", {})


def test_a_write_answered_with_too_much_is_reported_applied() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, stream=Endless(20 * MB))

    with pytest.raises(E.FatalError) as info:
        _run(httpx.MockTransport(answer), "shorten_dev.create_link", {"url": "https://a.test/x"})
    assert info.value.write_applied is True  # it succeeded: never resend it blindly


def _catalog_with_limit(limit: int) -> SimpleNamespace:
    real = load_catalog()
    action = real.get("bitly.get_user")
    limited = action.model_copy(update={"max_response_bytes": limit})
    return SimpleNamespace(apps=real.apps, get=lambda action_id: limited)


def test_the_manifest_can_lower_or_raise_the_bound() -> None:
    body = b'{"login": "' + b"a" * (2 * MB) + b'"}'

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    transport = httpx.MockTransport(answer)
    with pytest.raises(E.FatalError, match="larger than 1,048,576 bytes"):
        _run(transport, "bitly.get_user", {}, _catalog_with_limit(MB))
    out = _run(transport, "bitly.get_user", {}, _catalog_with_limit(4 * MB))
    assert isinstance(out, dict) and len(out["login"]) == 2 * MB


def test_max_response_bytes_is_a_manifest_field() -> None:
    action = load_catalog().get("bitly.get_user")
    assert action.max_response_bytes is None  # the default applies
    data = {
        "key": "k", "name": "n", "description": "d", "kind": "search", "idempotent": True,
        "inputs": [], "output": {"schema": {}, "sample": {}}, "sample_request": {}, "notes": [],
        "request": {"method": "GET", "path": "/x"}, "max_response_bytes": 65536,
    }  # fmt: skip
    assert ActionSpec.model_validate(data).max_response_bytes == 65536


def test_the_manifest_schema_takes_max_response_bytes_in_range() -> None:
    from connector.catalog.loader import manifest_problems
    from connector.safe_load import load_yaml, read_text

    path = load_catalog().get("bitly.get_user").source
    data = load_yaml(read_text(path), str(path))
    assert manifest_problems("action", {**data, "max_response_bytes": 32 * MB}) == []
    problems = manifest_problems("action", {**data, "max_response_bytes": 0})
    assert [field for field, _ in problems] == ["max_response_bytes"]
