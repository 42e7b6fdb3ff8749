"""Error bodies a front end or a broken server may send: huge, unclosed, undecodable, empty.

Each gives a short, clear message in bounded time and memory; none raises anything but a
ConnectorError. Retry-After accepts delta-seconds and HTTP dates and nothing looser.
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import httpx
import pytest

from connector import errors as E
from connector.http.client import MAX_ERROR_BODY, AppClient
from connector.http.translate import Translator, parse_retry_after, snippet

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ACTION = "bitly.get_bitlink"
MB = 1024 * 1024


class Endless(httpx.AsyncByteStream):
    """`size` bytes of `unit`, counting how many were handed out."""

    def __init__(self, unit: bytes, size: int) -> None:
        self.unit, self.size, self.sent = unit, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = self.unit * (64 * 1024 // len(self.unit))
        while self.sent < self.size:
            self.sent += len(chunk)
            yield chunk


def client_for(
    make_app: Callable[[str], SimpleNamespace], answer: Callable[[httpx.Request], httpx.Response]
) -> AppClient:
    return AppClient(
        app="bitly",
        base_url="https://api.test/v4",
        credential="tok_hostile_bodies_0123456789",
        translator=Translator.for_app(make_app("bitly"), wall=lambda: NOW),
        transport=httpx.MockTransport(answer),
    )


@pytest.mark.parametrize(
    ("status", "ctype", "unit", "kind"),
    [
        (400, "text/html", b"<p>bad request ", E.InvalidRequest),
        (404, "text/plain", b"404 page not found ", E.NotFound),
        (500, "application/json", b'{"message": "INTERNAL_ERROR", "pad": "', E.ServerError),
    ],
)
def test_a_50_mb_error_body_is_not_read_whole(
    make_app: Callable[[str], SimpleNamespace], arun: Callable, status: int, ctype: str,
    unit: bytes, kind: type[E.ActionError],
) -> None:  # fmt: skip
    streams: list[Endless] = []

    def answer(request: httpx.Request) -> httpx.Response:
        streams.append(Endless(unit, 50 * MB))
        return httpx.Response(status, headers={"content-type": ctype}, stream=streams[-1])

    async def go() -> None:
        client = client_for(make_app, answer)
        try:
            await client.request(ACTION, "GET", "/bitlinks/bit.ly/abc")
        finally:
            await client.aclose()

    started = time.perf_counter()
    with pytest.raises(kind) as info:
        arun(go())
    assert streams[0].sent <= MAX_ERROR_BODY + 64 * 1024  # stopped reading early
    assert len(str(info.value)) < 400
    assert time.perf_counter() - started < 2.0


def test_a_gzip_error_body_is_decoded_once(
    make_app: Callable[[str], SimpleNamespace], arun: Callable
) -> None:
    body = gzip.compress(b'{"message": "NOT_FOUND", "description": "no such link"}')

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        return httpx.Response(404, headers=headers, content=body)

    async def go() -> None:
        client = client_for(make_app, answer)
        try:
            await client.request(ACTION, "GET", "/bitlinks/bit.ly/abc")
        finally:
            await client.aclose()

    with pytest.raises(E.NotFound) as info:
        arun(go())
    assert "NOT_FOUND" in str(info.value) and "no such link" in str(info.value)


def test_a_large_success_body_is_read_whole(
    make_app: Callable[[str], SimpleNamespace], arun: Callable
) -> None:
    links = [{"id": f"bit.ly/{i}"} for i in range(100_000)]  # ~2 MB of JSON

    async def go() -> object:
        client = client_for(make_app, lambda r: httpx.Response(200, json={"links": links}))
        try:
            return await client.request(ACTION, "GET", "/groups/B1/bitlinks")
        finally:
            await client.aclose()

    assert arun(go()) == {"links": links}


@pytest.mark.parametrize(
    "text",
    [
        "<script>" + "<style>" * 200_000,  # a lazy regex took minutes on this
        "<" * 1_000_000,
        "<a " * 300_000,
        "<style>x</style" + "y" * 1_000_000,
    ],
    ids=["unclosed-blocks", "lone-brackets", "unclosed-tags", "unterminated-close"],
)
def test_snippet_is_linear_on_hostile_html(text: str) -> None:
    started = time.perf_counter()
    out = snippet(text)
    assert len(out) <= 163
    assert time.perf_counter() - started < 0.5


def test_snippet_still_strips_scripts_and_tags() -> None:
    html = "<html><script>var t = 1 < 2;</script><STYLE>p{}</STYLE><h1>Bad  Request</h1>"
    assert snippet(html) == "Bad Request"


@pytest.mark.parametrize(
    ("content", "ctype", "expected"),
    [
        (b"\xff\xfe\xfa not utf8 \xc3\x28", "text/plain", "not utf8"),
        (b"", "text/plain", "bitly answered HTTP 400 Bad Request"),
        (b"", "", "bitly answered HTTP 400 Bad Request"),
        (b'{"message": "caf\xe9"}', "application/json", "non-JSON body"),
        (b"\x00\x01\x02", "application/octet-stream", "non-JSON body (application/octet-stream)"),
    ],
    ids=["invalid-utf8", "empty", "empty-no-type", "latin1-json", "binary"],
)
def test_undecodable_bodies_give_a_message(
    make_app: Callable[[str], SimpleNamespace], content: bytes, ctype: str, expected: str
) -> None:
    translator = Translator.for_app(make_app("bitly"), wall=lambda: NOW)
    headers = {"content-type": ctype} if ctype else {}
    resp = httpx.Response(
        400, headers=headers, content=content, request=httpx.Request("GET", "https://x.test/")
    )
    err = translator.from_response(resp, ACTION)
    assert isinstance(err, E.InvalidRequest)
    assert expected in str(err) and "\n" not in str(err)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", None),
        ("Infinity", None),
        ("nan", None),
        ("1e9", None),
        ("1_0", None),
        ("0x10", None),
        (" 30 ", 30.0),
        ("+5", 5.0),
        ("Thu, 01 Jan 2026 00:02:00 +0000", 120.0),
        ("Thu, 01 Jan 2026 00:02:00", None),  # an HTTP date without a zone is ambiguous
        ("Mon, 32 Jan 2026 00:00:00 GMT", None),
    ],
)
def test_retry_after_is_strict(header: str, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_bogus_retry_after_falls_back_to_the_default_window(
    make_app: Callable[[str], SimpleNamespace],
) -> None:
    translator = Translator.for_app(make_app("bitly"), wall=lambda: NOW)
    resp = httpx.Response(
        429, headers={"Retry-After": "inf"}, request=httpx.Request("GET", "https://x.test/")
    )
    err = translator.from_response(resp, ACTION)
    assert isinstance(err, E.Throttled) and err.retry_after == 60.0


def test_every_streamed_response_is_closed(
    make_app: Callable[[str], SimpleNamespace], arun: Callable
) -> None:
    closed: list[bool] = []

    class Tracked(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"message": "NOT_FOUND"}' if len(closed) % 2 else b'{"ok": true}'

        async def aclose(self) -> None:
            closed.append(True)

    answers = iter([200, 404] * 3)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), stream=Tracked())

    async def go() -> None:
        client = client_for(make_app, answer)
        try:
            for _ in range(6):
                with contextlib.suppress(E.NotFound):
                    await client.request(ACTION, "GET", "/bitlinks/bit.ly/abc")
        finally:
            await client.aclose()

    arun(go())
    assert len(closed) == 6


def test_a_refused_url_is_redacted_before_it_is_cut(
    make_app: Callable[[str], SimpleNamespace], arun: Callable
) -> None:
    token = "tok_hostile_bodies_0123456789"
    # The token straddles the 120-character cut: cutting first would leave its start visible.
    url = "https://elsewhere.test/" + "p" * 90 + "?t=" + token

    async def go() -> None:
        client = client_for(make_app, lambda r: httpx.Response(200))
        try:
            await client.request(ACTION, "GET", url)
        finally:
            await client.aclose()

    with pytest.raises(E.FatalError) as info:
        arun(go())
    assert "refusing to follow" in str(info.value)
    assert "?t=tok" not in str(info.value)  # not even the first characters
