"""Request bodies bounded: a declared length over the limit is refused before reading, and a
body that grows past it while streaming is cut off, both with a 413 problem. `/v1` bodies
are JSON, said so by their Content-Type (415 otherwise: a form post is not a JSON body)."""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.service.problems import ServiceProblem, problem_response

__all__ = ["BodyLimit", "require_json"]


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False  # the server refuses a malformed length itself
            if too_big:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        over = False
        replaced = False

        async def counting() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # The app gets an end of body here; whatever it answers is replaced
                    # (frameworks turn an exception raised while reading into their own 400).
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def watching(message: Message) -> None:
            nonlocal replaced
            if not over:
                await send(message)
            elif not replaced and message["type"] == "http.response.start":
                replaced = True
                await self._refuse(scope, receive, send)

        await self.app(scope, counting, watching)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, f"the request body is larger than {self.max_bytes:,} bytes"
        )
        await response(scope, receive, send)


async def require_json(request: Request) -> None:
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise ServiceProblem(
            415, f"the body must be JSON (Content-Type: application/json), not {media[:80]}"
        )
