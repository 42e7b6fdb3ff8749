"""A shorten.dev sandbox in-process with a clock the tests move, and a small sync client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connector.sandbox.config import DEMO_SHORTEN_KEY, SandboxConfig
from connector.sandbox.shorten_dev import create_app

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DEMO = DEMO_SHORTEN_KEY


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Api:
    """Calls the app through httpx.ASGITransport; `key=None` sends no Authorization."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def __call__(
        self, method: str, path: str, *, key: str | None = DEMO, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("203.0.113.7", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
                return await c.request(method, path, headers=headers, **kw)

        return asyncio.run(go())

    def create(self, **body: Any) -> httpx.Response:
        return self("POST", "/api/v1/links", json=body)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_api(clock: Clock, **kw: Any) -> Api:
    limit = kw.pop("creation_limit_per_hour", 300)
    return Api(create_app(SandboxConfig(now=clock, **kw), creation_limit_per_hour=limit))


@pytest.fixture
def api(clock: Clock) -> Api:
    return make_api(clock)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    return body
