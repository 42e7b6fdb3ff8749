"""API keys for `/v1` (a header, never a cookie: a browser cannot be tricked into sending
one), and console sessions (an HttpOnly, SameSite=Strict cookie plus a per-session CSRF
token that every state-changing form carries)."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from connector.redact import register_secret
from connector.service.problems import ServiceProblem

__all__ = ["SESSION_COOKIE", "Auth", "Session", "require_api_key"]

SESSION_COOKIE = "connector_session"
#: a console session lasts this long (seconds) after sign-in
SESSION_TTL = 12 * 3600


@dataclass(frozen=True)
class Session:
    csrf: str
    expires: float


class Auth:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("the service needs at least one API key")
        for key in keys:
            register_secret(key)  # masked in every message, run log and page
        self._keys = [k.encode() for k in keys]
        self._sessions: dict[str, Session] = {}

    def valid(self, key: str) -> bool:
        given = key.encode("utf-8", "replace")
        # every key compared, in constant time each: no early exit tells which one was near
        found = False
        for known in self._keys:
            found |= hmac.compare_digest(given, known)
        return found

    def sign_in(self, key: str) -> tuple[str, Session] | None:
        if not self.valid(key):
            return None
        self._expire()
        sid = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), expires=time.time() + SESSION_TTL)
        self._sessions[sid] = session
        return sid, session

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None or session.expires < time.time():
            return None
        return session

    def sign_out(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def _expire(self) -> None:
        now = time.time()
        for sid in [s for s, v in self._sessions.items() if v.expires < now]:
            del self._sessions[sid]


_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer KEY`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    key = bearer.credentials if bearer is not None else header
    if not key:
        raise ServiceProblem(
            401, "an API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
        )
    if not request.app.state.auth.valid(key):
        raise ServiceProblem(401, "the API key is not valid")
