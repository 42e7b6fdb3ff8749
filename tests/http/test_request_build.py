"""AppClient builds each request once; what it sends is what `AsyncClient.build_request`
would have built (same URL, same headers), for every shape of path and query it takes."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from connector import errors as E
from connector.http import client as client_module
from connector.http.client import AppClient
from connector.http.translate import Translator

BASES = ["https://api.test/v4", "https://api.test/v4/", "http://127.0.0.1:8411/api/v1"]
CASES: list[tuple[str, dict[str, Any] | None]] = [
    ("user", None),
    ("/user", None),
    ("bitlinks/bit.ly/abc123/clicks", {"unit": "day", "units": 7}),
    ("bitlinks/bit.ly%2Fx/clicks", {"unit": "day", "units": -1, "unit_reference": None}),
    ("groups/Bx/bitlinks", {"size": 50, "archived": False, "tags": ["a b", "c&d", "é"]}),
    ("links", {"q": "a+b=c/d?e#f", "flag": True, "n": 1.5, "empty": ""}),
    ("links", {"list": [True, None, 3], "none": None}),
    ("links", {}),
    ("links?page=2&size=10", {"size": 50}),
    ("links?page=2", None),
    ("links/caf%C3%A9", {"search": "café ☕"}),
    ("links/./a/../b", {"q": "x"}),
    ("links/..", None),
    ("links/50%", {"q": "100%"}),
    ("links/a b/{c}`", {"q": "~!$'()*,;:@/?"}),
    ("links/%zz/x:y@z", {"q": "%41%4"}),
]


def _client(base: str, seen: list[httpx.Request]) -> AppClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    return AppClient(
        app="bitly",
        base_url=base,
        credential="tok_request_build_0123456789",
        translator=Translator.for_app(SimpleNamespace(name="bitly", errors=[], error_body={})),
        transport=httpx.MockTransport(answer),
    )


def _expected(client: AppClient, url: str, params: dict[str, Any] | None) -> httpx.Request:
    """What the client built before: httpx's own merging of base URL, path and params."""
    query = {k: v for k, v in (params or {}).items() if v is not None}
    return client._client.build_request("GET", url.lstrip("/"), params=query or None)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(("url", "params"), CASES)
def test_the_request_sent_is_what_build_request_builds(
    arun: Callable[..., Any], base: str, url: str, params: dict[str, Any] | None
) -> None:
    seen: list[httpx.Request] = []
    client = _client(base, seen)

    async def go() -> None:
        await client.request("x.y", "GET", url, params=params)
        await client.aclose()

    arun(go())
    expected = _expected(client, url, params)
    assert str(seen[0].url) == str(expected.url)
    assert seen[0].url.raw_path == expected.url.raw_path
    assert seen[0].headers.multi_items() == expected.headers.multi_items()


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_a_json_body_is_sent_as_build_request_sends_it(
    arun: Callable[..., Any], method: str
) -> None:
    seen: list[httpx.Request] = []
    client = _client("https://api.test/v4", seen)
    body = {"long_url": "https://example.com/é", "tags": ["a"], "n": None}

    async def go() -> None:
        await client.request("x.y", method, "/bitlinks", json_body=body)
        await client.aclose()

    arun(go())
    expected = client._client.build_request(method, "bitlinks", json=body)
    assert seen[0].method == method
    assert seen[0].content == expected.content
    assert seen[0].headers.multi_items() == expected.headers.multi_items()


def test_an_absolute_url_under_the_base_keeps_its_query(arun: Callable[..., Any]) -> None:
    seen: list[httpx.Request] = []
    client = _client("https://api.test/v4", seen)

    async def go() -> None:
        await client.request("x.y", "GET", "https://api.test/v4/groups/B/bitlinks?page=2&size=5")
        await client.aclose()

    arun(go())
    assert str(seen[0].url) == "https://api.test/v4/groups/B/bitlinks?page=2&size=5"


@pytest.mark.parametrize(
    ("url", "error", "match"),
    [
        ("https://evil.test/v4/user", E.FatalError, "not under the bitly base URL"),
        ("https://api.test/v5/user", E.FatalError, "not under the bitly base URL"),
        ("http://api.test/v4/user", E.FatalError, "not under the bitly base URL"),
        ("https://api.test:99999/v4/user", E.ConnectorError, ""),  # unparseable: not httpx's
    ],
)
def test_a_url_off_the_base_or_unparseable_is_refused_before_sending(
    arun: Callable[..., Any], url: str, error: type[E.ConnectorError], match: str
) -> None:
    seen: list[httpx.Request] = []
    client = _client("https://api.test/v4", seen)

    async def go() -> None:
        try:
            with pytest.raises(error, match=match or None):
                await client.request("x.y", "GET", url)
        finally:
            await client.aclose()

    arun(go())
    assert seen == []


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST", "PUT", "PATCH"])
def test_a_request_without_body_has_build_requests_headers(
    arun: Callable[..., Any], method: str
) -> None:
    seen: list[httpx.Request] = []
    client = _client("http://127.0.0.1:8411/v4", seen)

    async def go() -> None:
        await client.request("x.y", method, "/bitlinks/bit.ly%2Fa")
        await client.request("x.y", method, "http://127.0.0.1:8411/v4/bitlinks/bit.ly%2Fa")
        await client.aclose()

    arun(go())
    expected = client._client.build_request(method, "bitlinks/bit.ly%2Fa")
    for sent in seen:
        assert sent.method == method
        assert sent.headers.multi_items() == expected.headers.multi_items()
        assert sent.content == b""


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(("url", "params"), CASES)
def test_a_url_made_without_parsing_is_the_parsed_one(
    base: str, url: str, params: dict[str, Any] | None
) -> None:
    # client._plain_url skips httpx's parser for paths and queries it would leave unchanged.
    client = _client(base, [])
    relative = url.lstrip("/")
    query = client_module._query_text(params)
    made = client_module._plain_url(client._base_parts, relative, query)
    if made is None:
        return  # parsed as before (the test above checks what is sent)
    text = client._base_text + relative + (f"?{query}" if query else "")
    parsed = httpx.URL(text)
    assert made == parsed
    assert (made.raw_path, made.netloc, made.scheme, str(made)) == (
        parsed.raw_path, parsed.netloc, parsed.scheme, str(parsed)
    )  # fmt: skip


def test_the_usual_request_url_is_made_without_parsing() -> None:
    assert client_module._PARTS_USABLE, "httpx's URL parts changed: every URL is parsed again"
    client = _client("http://127.0.0.1:8411/v4", [])
    made = client_module._plain_url(client._base_parts, "bitlinks/bit.ly/abc/clicks", "unit=day")
    assert made is not None
    assert str(made) == "http://127.0.0.1:8411/v4/bitlinks/bit.ly/abc/clicks?unit=day"


def test_a_request_goes_straight_to_the_pool_with_the_clients_timeouts(
    arun: Callable[..., Any],
) -> None:
    # AsyncClient.send is skipped (no auth flow, no redirects, no cookie jar to fill); the
    # timeouts it would have set travel with the request, as the transport reads them.
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"Set-Cookie": "s=1; Path=/"})

    client = AppClient(
        app="bitly",
        base_url="https://api.test/v4",
        credential="tok_request_build_0123456789",
        translator=Translator.for_app(SimpleNamespace(name="bitly", errors=[], error_body={})),
        transport=httpx.MockTransport(answer),
    )

    async def go() -> Any:
        try:
            return await client.request("x.y", "GET", "user")
        finally:
            await client.aclose()

    assert arun(go()) == {"ok": True}
    assert client._transport is not None
    assert seen[0].extensions["timeout"] == client._client.timeout.as_dict()
    assert not client._client.cookies  # the answer's cookie was never taken
