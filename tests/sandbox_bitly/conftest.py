"""Fixtures: a seeded Bitly sandbox app called in-process through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connector.sandbox.bitly import create_app
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig

#: a fixed wall clock: 2026-01-01T12:00:00Z
NOW = 1_767_268_800.0
AUTH = {"Authorization": f"Bearer {DEMO_BITLY_TOKEN}"}


class Client:
    """A synchronous face on httpx.AsyncClient(ASGITransport(app)), one event loop."""

    def __init__(self, app: Starlette, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://sandbox.test",
            headers=AUTH if headers is None else headers,
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def raw(
        self, method: str, raw_path: bytes, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Call the app with an exact raw path, as a server would pass it (no normalising)."""
        return self.loop.run_until_complete(_raw_call(self.app, method, raw_path, body, headers))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


async def _raw_call(
    app: Starlette, method: str, raw_path: bytes, body: bytes, headers: dict[str, str] | None
) -> tuple[int, dict[str, str], bytes]:
    from urllib.parse import unquote_to_bytes

    path_part, _, query = raw_path.partition(b"?")
    all_headers = {**AUTH, **(headers or {}), "content-length": str(len(body))}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote_to_bytes(path_part).decode("utf-8", "replace"),
        "raw_path": path_part,
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("sandbox.test", 80),
    }
    sent = False
    status = 0
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update({k.decode(): v.decode() for k, v in message["headers"]})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, response_headers, b"".join(chunks)


def make_app(seed: int | None = 1, **kwargs: Any) -> Starlette:
    return create_app(SandboxConfig(seed=seed, now=lambda: NOW, **kwargs))


@pytest.fixture(scope="module")
def demo_app() -> Starlette:
    return make_app()


@pytest.fixture(scope="module")
def client(demo_app: Starlette) -> Iterator[Client]:
    c = Client(demo_app)
    yield c
    c.close()


@pytest.fixture
def fresh() -> Iterator[Client]:
    """A client on a new demo sandbox, for tests that change or count state."""
    c = Client(make_app())
    yield c
    c.close()
