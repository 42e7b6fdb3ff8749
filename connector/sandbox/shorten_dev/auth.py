"""API keys and their scopes: `read` (list, get, analytics), `write` (create, revoke), `admin`."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from connector.sandbox.config import DEMO_SHORTEN_KEY
from connector.sandbox.shorten_dev.errors import ApiError

__all__ = ["ALL_SCOPES", "KeyRing"]

ALL_SCOPES = frozenset({"read", "write", "admin"})


class KeyRing:
    """The accepted keys; with none configured, the public demo key with every scope."""

    def __init__(self, tokens: dict[str, frozenset[str]]) -> None:
        self._keys = dict(tokens) if tokens else {DEMO_SHORTEN_KEY: ALL_SCOPES}

    def require(self, request: Request, scope: str) -> None:
        """Raise 401 without a known key, 403 when the key lacks `scope` (admin has all)."""
        header = request.headers.get("authorization", "")
        kind, _, key = header.partition(" ")
        if not header:
            raise ApiError(401, "Missing API key: send 'Authorization: Bearer sk_...'")
        if kind.lower() != "bearer" or not key.strip():
            raise ApiError(401, "Malformed Authorization header: expected 'Bearer <key>'")
        scopes = self._lookup(key.strip())
        if scopes is None:
            raise ApiError(401, "Invalid API key")
        if scope not in scopes and "admin" not in scopes:
            raise ApiError(403, f"This API key lacks the '{scope}' scope")

    def _lookup(self, key: str) -> frozenset[str] | None:
        # Constant-time comparison: the sandbox should not teach timing leaks by example.
        found = None
        for known, scopes in self._keys.items():
            if hmac.compare_digest(known.encode(), key.encode("utf-8", "surrogateescape")):
                found = scopes
        return found
