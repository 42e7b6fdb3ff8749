"""A tiny app and dialect to exercise ControlsMiddleware on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from connector.sandbox.controls import ADMIN_TOKEN_HEADER, Controls, ControlsMiddleware


class DummyDialect:
    def endpoint_key(self, scope: Scope) -> str | None:
        if scope["path"] == "/free":
            return None
        return f"{scope['method']} {scope['path']}"

    def is_write(self, scope: Scope) -> bool:
        return scope["method"] == "POST"

    def throttled(self, reason: str, retry_after: float) -> Response:
        return JSONResponse(
            {"error": "throttled", "reason": reason},
            429,
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )

    def quota_exhausted(self) -> Response:
        return JSONResponse({"error": "quota"}, 429)

    def server_error(self, status: int) -> Response:
        return JSONResponse({"error": "server", "status": status}, status)


class DummyApp:
    """Counts handled requests and applied writes; `gate` can hold requests open."""

    def __init__(self) -> None:
        self.handled = 0
        self.writes = 0
        self.gate: asyncio.Event | None = None

        async def item(request: Request) -> Response:
            self.handled += 1
            if request.method == "POST":
                self.writes += 1
            if self.gate is not None:
                await self.gate.wait()
            return JSONResponse({"ok": True, "writes": self.writes})

        self.app = Starlette(
            routes=[
                Route("/items", item, methods=["GET", "POST"]),
                Route("/other", item, methods=["GET"]),
                Route("/free", item, methods=["GET"]),
            ]
        )


class Clock:
    def __init__(self, t: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dummy() -> DummyApp:
    return DummyApp()


def make(dummy: DummyApp, controls: Controls, clock: Clock, **kw: Any) -> ControlsMiddleware:
    return ControlsMiddleware(dummy.app, controls, DummyDialect(), clock, **kw)


def run(mw: ControlsMiddleware, fn: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=mw)
        # The admin endpoints need the token the middleware holds (made when admin is on).
        headers = {ADMIN_TOKEN_HEADER: mw.controls.admin_token or ""}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers=headers
        ) as client:
            return await fn(client)

    return asyncio.run(main())
