"""Calling a sandbox app with exact bytes, as an HTTP server would hand them over.

httpx normalises paths, headers and bodies; a fuzzer needs to send what it means to send.
`call` builds the ASGI scope the way uvicorn does (`path` is the percent-decoded `raw_path`)
and fails loudly when the app raises (a crash) or ends without a response (a cut
connection, which outside an injected fault is a crash too).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp


@dataclass(frozen=True)
class Req:
    """One request, exactly as sent; `note` says which mutation made it."""

    method: str
    path: bytes
    query: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    note: str = ""

    def describe(self) -> str:
        body = self.body[:160] + (b"..." if len(self.body) > 160 else b"")
        path = self.path[:160] + (b"..." if len(self.path) > 160 else b"")
        query = self.query[:160]
        return (
            f"{self.method} {path!r}?{query!r} [{self.note}] headers={self.headers!r} body={body!r}"
        )


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)


class Crash(AssertionError):
    """The app raised, or returned without a complete response."""


async def _call(app: ASGIApp, req: Req, client: tuple[str, int]) -> Reply:
    headers = list(req.headers)
    if not any(k.lower() == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(req.body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": "http",
        # uvicorn: the ASCII request target, percent-decoded (UTF-8, invalid bytes replaced)
        "path": unquote(req.path.decode("latin-1")),
        "raw_path": req.path,
        "query_string": req.query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in headers],
        "client": client,
        "server": ("sandbox.test", 80),
    }
    sent = False
    reply = Reply(status=0)
    chunks: list[bytes] = []
    finished = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": req.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal finished
        if message["type"] == "http.response.start":
            if reply.status:
                raise Crash(f"two response starts for {req.describe()}")
            reply.status = message["status"]
            reply.headers = {k.decode().lower(): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                finished = True

    try:
        await app(scope, receive, send)
    except Exception as exc:  # the point of the fuzzer: any escaping exception is a crash
        raise Crash(f"app raised {exc!r} on {req.describe()}") from exc
    if not finished:
        raise Crash(f"no complete response (cut connection) for {req.describe()}")
    reply.body = b"".join(chunks)
    return reply


class Caller:
    """A synchronous face on `_call`, one event loop for a whole module."""

    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("198.51.100.7", 5000)) -> None:
        self.app = app
        self.client = client
        self.loop = asyncio.new_event_loop()

    def __call__(self, req: Req) -> Reply:
        return self.loop.run_until_complete(_call(self.app, req, self.client))

    def close(self) -> None:
        self.loop.close()
