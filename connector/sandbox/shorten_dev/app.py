"""The shorten.dev sandbox as one Starlette app, wrapped in the shared controls layer."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from connector.sandbox.config import SandboxConfig
from connector.sandbox.controls import ControlsMiddleware
from connector.sandbox.shorten_dev import handlers as h
from connector.sandbox.shorten_dev.auth import KeyRing
from connector.sandbox.shorten_dev.demo import load_demo
from connector.sandbox.shorten_dev.dialect import ShortenDialect
from connector.sandbox.shorten_dev.errors import ApiError, error_response
from connector.sandbox.shorten_dev.store import LinkStore

__all__ = ["DEFAULT_CREATION_LIMIT_PER_HOUR", "create_app"]

#: shorten.dev's documented limit: 300 link creations an hour per user, single and bulk.
DEFAULT_CREATION_LIMIT_PER_HOUR = 300
_log = logging.getLogger("connector.sandbox.shorten_dev")


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Router 404/405s: the API's JSON error under /api/, plain text for short links."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/api/"):
        return PlainTextResponse("Short link not found", exc.status_code)
    message = (
        f"No such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 404
        else f"Method {request.method} not allowed on {request.url.path}"
    )
    return error_response(ApiError(exc.status_code, message, headers=dict(exc.headers or {})))


def create_app(
    config: SandboxConfig, *, creation_limit_per_hour: int = DEFAULT_CREATION_LIMIT_PER_HOUR
) -> Starlette:
    """Build the sandbox. `app.state.store` is the LinkStore, `app.state.counts` the
    per-endpoint request Counter, `app.state.controls` the ControlsMiddleware."""
    if creation_limit_per_hour < 0:
        raise ValueError(f"creation_limit_per_hour must be >= 0, got {creation_limit_per_hour}")
    store = LinkStore(config.db_path, config.seed)
    if config.seed is not None:
        load_demo(store, config.seed, config.now())
    sandbox = h.Sandbox(KeyRing(config.tokens), store, config.now, creation_limit_per_hour)

    def api(path: str, **by_method: tuple[str, h.Handler]) -> Route:
        """One route per path, so a wrong method gets 405 with the full Allow list."""
        endpoints = {m: h.endpoint(scope, fn, sandbox) for m, (scope, fn) in by_method.items()}

        async def dispatch(request: Request) -> Response:
            # Starlette adds HEAD wherever GET is allowed
            method = "GET" if request.method == "HEAD" else request.method
            return await endpoints[method](request)

        return Route(f"/api/v1{path}", dispatch, methods=list(endpoints))

    async def redirect(request: Request) -> Response:
        try:
            return await h.redirect(request, sandbox)
        except Exception:
            _log.exception("unexpected error redirecting %s", request.url.path)
            return PlainTextResponse("Internal error", 500)

    routes = [
        api("/links", GET=("read", h.list_links), POST=("write", h.create_link)),
        api("/links/bulk", POST=("write", h.create_bulk)),
        api("/links/{slug}", GET=("read", h.get_link)),
        api("/links/{slug}/revoke", POST=("write", h.revoke_link)),
        api("/links/{slug}/analytics", GET=("read", h.link_analytics)),
        Route("/{slug}", redirect, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})
    # A trailing or doubled slash is an unknown path (404 in the API's shape), not a 307 to
    # another one: the API does not redirect, and a short link's redirect is our own.
    app.router.redirect_slashes = False
    controls = ControlsMiddleware(
        app.build_middleware_stack(), config.controls, ShortenDialect(), config.now
    )
    # Starlette builds its stack lazily; setting it now puts the controls outermost (before
    # its error middleware) and lets the counts be published before the first request.
    app.middleware_stack = controls
    app.state.store = store
    app.state.counts = controls.counts
    app.state.controls = controls
    app.state.sandbox = sandbox
    return app
