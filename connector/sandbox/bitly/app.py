"""The Bitly API v4 sandbox app: routing, checks against the API description, dispatch.

Request flow: ControlsMiddleware (limits, faults, counts) -> `BitlyApi.endpoint`:
/v4 paths are matched to an operation (404/405 in plain text otherwise), the bearer token
checked (403), query and body validated against the derived facts (400 naming the field),
then the operation's handler runs inside one SQLite transaction. Any other path of two
segments is a short link: 301 to its long URL, recording a click.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

# Imported for their @handles registrations.
from connector.sandbox.bitly import (  # noqa: F401
    account,
    analytics,
    bitlinks,
    campaigns,
    custom_bitlinks,
    group_links,
    limits,
    qr,
    webhooks,
)
from connector.sandbox.bitly.account import ensure_account
from connector.sandbox.bitly.demo import load_demo
from connector.sandbox.bitly.dialect import BitlyDialect, resolve
from connector.sandbox.bitly.errors import (
    BitlyError,
    bad_request,
    field_error,
    method_not_allowed,
    page_not_found,
)
from connector.sandbox.bitly.facts import load_bitly_facts
from connector.sandbox.bitly.intake import check_token, read_json_body
from connector.sandbox.bitly.links import bitlink_key
from connector.sandbox.bitly.metric_windows import MetricParamError
from connector.sandbox.bitly.registry import HANDLERS, Call
from connector.sandbox.bitly.store import Store
from connector.sandbox.clicks import click_from_request, insert_clicks
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import ControlsMiddleware
from connector.vendor.facts import VendorFacts, precompile

__all__ = ["PLANS", "BitlyApi", "create_app"]

log = logging.getLogger("connector.sandbox.bitly")

#: "premium": every operation answers; "free": operations marked premium answer 402
PLANS = ("premium", "free")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# characters left as they are when a long URL goes into a Location header
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


class BitlyApi:
    """The request handling behind the app (no Starlette routing beyond one catch-all)."""

    def __init__(
        self,
        store: Store,
        facts: VendorFacts,
        config: SandboxConfig,
        counts: Counter[str],
        plan: str = "premium",
    ) -> None:
        missing = {op.operation_id for op in facts.operations} - set(HANDLERS)
        if missing:
            raise RuntimeError(f"operations without a handler: {sorted(missing)}")
        self.store = store
        self.facts = facts
        self.config = config
        self.counts = counts
        self.used_this_hour: Callable[[str], int] | None = None
        self.tokens = frozenset(config.tokens) or frozenset({DEMO_BITLY_TOKEN})
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {PLANS}, not {plan!r}")
        self.plan = plan

    async def endpoint(self, request: Request) -> Response:
        match, known = resolve(self.facts, request.scope)
        if match is not None:
            try:
                return await self._api(request, match)
            except BitlyError as exc:
                if exc.status == 404 and "404" not in match.operation.responses:
                    # an id the account does not own: Bitly's answer there is 403
                    exc = BitlyError(403, "FORBIDDEN", resource=exc.resource)
                return exc.response()
        if known:
            return method_not_allowed()
        path = request.scope["path"]
        if path == "/v4" or path.startswith("/v4/"):
            return page_not_found()
        return self._redirect(request)

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)

    async def _api(self, request: Request, match: Any) -> Response:
        op = match.operation
        check_token(request, self.tokens)
        if op.premium and self.plan == "free":
            raise BitlyError(
                402,
                "UPGRADE_REQUIRED",
                f"{op.operation_id} needs a paid plan",
                resource=op.path.strip("/").split("/")[0],
            )
        body = None
        if request.method in _BODY_METHODS and op.body_schema is not None:
            body = await read_json_body(request, op.body_required)
            if body is None:
                body = {}
        raw_query = request.query_params.multi_items()
        query, problems = op.check_query(raw_query)
        problems += op.check_body(body) if body is not None else []
        if problems:
            raise bad_request(problems, op.path.strip("/").split("/")[0])
        base = f"{request.url.scheme}://{request.url.netloc}"
        call = Call(
            store=self.store,
            op=op,
            path=match.params,
            query=query,
            raw_query=raw_query,
            body=body,
            now=self.config.now(),
            base_url=base,
            counts=self.counts,
            controls=self.config.controls,
            used_this_hour=self.used_this_hour,
        )
        try:
            with self.store.transaction():
                status, payload = HANDLERS[op.operation_id](call)
        except BitlyError:
            raise
        except MetricParamError as exc:
            # every window-taking handler (metrics, shorten counts, sorted links) ends here
            raise field_error(exc.field, exc.message, call.resource) from None
        except Exception:
            log.exception("handler for %s failed", op.operation_id)
            raise BitlyError(500, "INTERNAL_ERROR", "the sandbox failed on this request") from None
        status = status or op.success_status
        if status == 204:
            return Response(status_code=204)
        return JSONResponse(payload, status_code=status)

    def _redirect(self, request: Request) -> Response:
        raw = (request.scope.get("raw_path") or b"").decode("latin-1").split("?", 1)[0]
        segments = (raw or request.scope["path"]).strip("/").split("/")
        if len(segments) != 2 or request.method not in ("GET", "HEAD"):
            return page_not_found()
        key = bitlink_key("/".join(unquote(s) for s in segments))
        if key is None or "/" in unquote(segments[1]):
            return page_not_found()
        now = self.config.now()
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT l.key, l.long_url FROM links l WHERE l.key = ? AND l.deleted = 0"
                " UNION ALL SELECT l.key, l.long_url FROM custom_bitlinks c"
                " JOIN links l ON l.key = c.link_key WHERE c.key = ? AND l.deleted = 0",
                (key, key),
            ).fetchone()
            if row is None:
                return page_not_found()
            if request.method == "GET":
                client = request.client.host if request.client else None
                # a custom bitlink's click counts for the bitlink it points to
                click = click_from_request(row["key"], request.headers, client, now)
                insert_clicks(conn, [click])
        location = quote(row["long_url"], safe=_URL_SAFE)
        return Response(
            f'<html><body><a href="{location}">moved here</a></body></html>',
            status_code=301,
            headers={"Location": location, "Cache-Control": "private, max-age=90"},
            media_type="text/html",
        )


def create_app(config: SandboxConfig, *, plan: str = "premium") -> Starlette:
    """The Bitly sandbox as an ASGI app.

    `plan="free"` makes the operations the description marks premium answer 402
    UPGRADE_REQUIRED, as Bitly does for accounts without a paid plan.

    `app.state.store` is the Store, `app.state.counts` the per-endpoint request Counter,
    `app.state.controls` the ControlsMiddleware in front of it.
    """
    facts = load_bitly_facts()
    precompile(facts)
    salt = str(config.seed) if config.seed is not None else "0"
    store = Store(config.db_path, salt=salt)
    with store.transaction():
        ensure_account(store)
        if config.seed is not None:
            load_demo(store, config.seed, config.now())
    counts: Counter[str] = Counter()
    api = BitlyApi(store, facts, config, counts, plan)
    # Every request reaches the endpoint, which answers 404/405 itself. It is the router's
    # default rather than a `/{path:path}` route: that route's pattern stops at a newline,
    # so a path holding `%0A` would get Starlette's own plain "Not Found".
    app = Starlette()
    app.router.default = api.asgi
    controls = ControlsMiddleware(
        app.build_middleware_stack(), config.controls, BitlyDialect(facts), config.now
    )
    # Starlette builds its stack lazily; setting it now puts the controls outermost and
    # lets the counts be published before the first request.
    app.middleware_stack = controls
    api.counts = controls.counts
    api.used_this_hour = controls.used_this_hour
    app.state.store = store
    app.state.counts = controls.counts
    app.state.controls = controls
    app.state.facts = facts
    return app
