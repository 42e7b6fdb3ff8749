"""How shorten.dev spells throttles, quota and server errors, for ControlsMiddleware."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from connector.sandbox.shorten_dev.errors import rate_limited, server_error

__all__ = ["ShortenDialect"]

_API = "/api/v1/"


class ShortenDialect:
    def endpoint_key(self, scope: Scope) -> str | None:
        path: str = scope["path"]
        method: str = scope["method"]
        if not path.startswith(_API):
            # `/{slug}`: one endpoint for every short link
            return f"{method} /{{slug}}" if path.count("/") == 1 else f"{method} (unknown)"
        parts = path[len(_API) :].split("/")
        if parts[0] != "links":
            return f"{method} (unknown)"
        n = len(parts)
        if n == 1:
            return f"{method} /api/v1/links"
        if n == 2:
            return (
                f"{method} /api/v1/links/bulk"
                if parts[1] == "bulk"
                else f"{method} /api/v1/links/{{slug}}"
            )
        if n == 3 and parts[2] in ("revoke", "analytics"):
            return f"{method} /api/v1/links/{{slug}}/{parts[2]}"
        return f"{method} (unknown)"

    def is_write(self, scope: Scope) -> bool:
        return scope["method"] in ("POST", "PUT", "PATCH", "DELETE")

    def throttled(self, reason: str, retry_after: float) -> Response:
        what = "concurrent requests" if reason == "concurrency" else reason.replace("_", " ")
        return rate_limited(f"Too many requests ({what} limit); retry later", retry_after)

    def quota_exhausted(self) -> Response:
        return rate_limited(
            "Monthly request quota exhausted; it resets on the 1st (UTC)",
            None,
            **{"X-RateLimit-Scope": "monthly"},
        )

    def server_error(self, status: int) -> Response:
        return server_error(status)
