"""How the Bitly sandbox tells the controls layer about endpoints, writes and its errors."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from connector.vendor.facts import PathMatch, VendorFacts

__all__ = ["API_PREFIX", "BitlyDialect", "resolve"]

API_PREFIX = "/v4"
_MATCH_KEY = "bitly.match"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SERVER_ERRORS = {
    500: ("INTERNAL_ERROR", "An internal error occurred"),
    502: ("BAD_GATEWAY", "The upstream server is unavailable"),
    503: ("TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable"),
}


def api_path(scope: Scope) -> str | None:
    """The raw (still percent-encoded) path below /v4, or None for a non-API path."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    # httpx's ASGI transport puts the query string into raw_path
    path = path.split("?", 1)[0]
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :]
    return None


def resolve(facts: VendorFacts, scope: Scope) -> tuple[PathMatch | None, bool]:
    """The operation a request addresses (cached in the scope: the controls layer and the
    app both need it)."""
    cached: tuple[PathMatch | None, bool] | None = scope.get(_MATCH_KEY)
    if cached is None:
        path = api_path(scope)
        cached = (None, False) if path is None else facts.match_path(scope["method"], path)
        scope[_MATCH_KEY] = cached
    return cached


class BitlyDialect:
    """Endpoint keys are "METHOD /v4/<path template>"; short-link redirects are not limited."""

    def __init__(self, facts: VendorFacts) -> None:
        self.facts = facts

    def endpoint_key(self, scope: Scope) -> str | None:
        match, _ = resolve(self.facts, scope)
        if match is None:
            return None
        return f"{match.operation.method} {API_PREFIX}{match.operation.path}"

    def is_write(self, scope: Scope) -> bool:
        return scope["method"] in _WRITES and api_path(scope) is not None

    def throttled(self, reason: str, retry_after: float) -> Response:
        # Bitly throttles with 403 and names the limit in X-Ratelimit-Reason; no Retry-After.
        return JSONResponse(
            {
                "message": "RATE_LIMIT_EXCEEDED",
                "resource": "",
                "description": f"Rate limit exceeded ({reason})",
            },
            status_code=403,
            headers={"X-Ratelimit-Reason": reason},
        )

    def quota_exhausted(self) -> Response:
        return JSONResponse(
            {
                "message": "MONTHLY_RATE_LIMIT_EXCEEDED",
                "description": "The monthly API call limit of the plan is used up",
            },
            status_code=429,
        )

    def server_error(self, status: int) -> Response:
        message, description = _SERVER_ERRORS.get(status, _SERVER_ERRORS[500])
        return JSONResponse({"message": message, "description": description}, status_code=status)
