"""Bitly's limit-learning hook (actions/bitly/limits.py) against answers of every shape."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from connector import errors as E
from connector.apps.bitly import limits as hook
from connector.catalog import load_catalog
from connector.http.client import AppClient
from connector.http.translate import Translator


def _client(body: Any, status: int = 200) -> AppClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return AppClient(
        app="bitly",
        base_url="https://api.test/v4",
        credential="t0ken-for-tests",
        translator=Translator.for_app(load_catalog().apps["bitly"]),
        transport=transport,
    )


async def _read(body: Any, status: int = 200) -> Any:
    client = _client(body, status)
    try:
        return await hook.platform_limits(client)
    finally:
        await client.aclose()


def test_endpoints_become_templates_relative_to_the_base_with_two_segment_bitlinks() -> None:
    body = {
        "platform_limits": [
            {"endpoint": "/v4/shorten", "methods": [{"name": "POST", "limit": 5000, "count": 7}]},
            {"endpoint": "/bitlinks/{bitlink}", "methods": [{"name": "get", "limit": 9}]},
            {"endpoint": "/v4/user", "methods": [{"name": "GET", "limit": 0, "count": 0}]},
            "junk",
            {"endpoint": "/v4/groups", "methods": ["junk", {"limit": 3}]},
        ]
    }
    got = asyncio.run(_read(body))
    assert [
        (e.method, e.template, e.label, e.per_minute, e.per_hour, e.used_hour) for e in got
    ] == [
        ("POST", "shorten", "POST /v4/shorten", 500, 5000, 7),
        ("GET", "bitlinks/{bitlink:2}", "GET /v4/bitlinks/{bitlink}", 1, 9, 0),
    ]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"platform_limits": "many"},
        {"platform_limits": [{"endpoint": "/v4/x", "methods": [{"name": "GET", "limit": "9"}]}]},
        {"platform_limits": [{"endpoint": "/v4/x", "methods": [{"name": "GET", "limit": -1}]}]},
        {"platform_limits": [{"endpoint": "/v4/x", "methods": [{"name": "GET", "limit": True}]}]},
    ],
)
def test_a_malformed_answer_is_one_clear_error(body: Any) -> None:
    with pytest.raises(E.FatalError) as info:
        asyncio.run(_read(body))
    assert "Bitly" in str(info.value)


def test_an_api_error_is_translated_as_any_other() -> None:
    with pytest.raises(E.AuthenticationError):
        asyncio.run(_read({"message": "FORBIDDEN"}, 403))


def test_plan_use() -> None:
    assert hook.plan_use("POST", "/shorten") == ("api_calls", "encodes")
    assert hook.plan_use("GET", "user") == ("api_calls",)
