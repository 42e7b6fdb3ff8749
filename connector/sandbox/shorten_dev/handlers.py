"""The six endpoints of /api/v1 plus the short-link redirect.

Each handler takes the request and the `Sandbox` (keys, store, clock, creation limit) and
returns a response or raises ApiError; `endpoint` adds the scope check and turns any
unexpected exception into a 500 with an `error_id` instead of a crash.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from connector.sandbox.clicks import click_from_request
from connector.sandbox.shorten_dev.analytics import shorten_analytics
from connector.sandbox.shorten_dev.auth import KeyRing
from connector.sandbox.shorten_dev.errors import ApiError, BadRequest, error_response
from connector.sandbox.shorten_dev.store import Link, LinkStore, NewLink, SlugTaken
from connector.sandbox.shorten_dev.validation import (
    MAX_BULK,
    check_slug_path,
    parse_link,
    parse_list_query,
    parse_period,
    read_json,
)

__all__ = ["SHORT_URL_BASE", "Sandbox", "endpoint", "redirect"]

SHORT_URL_BASE = "https://r.shorten.dev/"
_log = logging.getLogger("connector.sandbox.shorten_dev")

Handler = Callable[[Request, "Sandbox"], Awaitable[Response]]


@dataclass
class Sandbox:
    keys: KeyRing
    store: LinkStore
    now: Callable[[], float]
    creation_limit_per_hour: int


def _created(link: Link) -> dict[str, Any]:
    body: dict[str, Any] = {"link": link.to_json(), "short_url": SHORT_URL_BASE + link.slug}
    if link.status == "flagged":
        body["warning"] = (
            f"The destination was judged unsafe ({link.threat_type}); "
            "the link was created but will not redirect"
        )
    return body


def endpoint(
    scope: str, handler: Handler, sandbox: Sandbox
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            sandbox.keys.require(request, scope)
            return await handler(request, sandbox)
        except ApiError as exc:
            return error_response(exc)
        except ClientDisconnect:
            raise  # not a bug: the controls layer drops the exchange quietly
        except Exception:
            _log.exception("unexpected error in %s %s", request.method, request.url.path)
            return error_response(ApiError(500, "An unexpected error occurred"))

    return run


# -- creation ----------------------------------------------------------------------------------


def _reserve(sandbox: Sandbox, wanted: int, now: float) -> dict[str, str]:
    """Check the hourly creation limit for `wanted` links; return the rate headers."""
    limit = sandbox.creation_limit_per_hour
    recent = sandbox.store.created_since(now - 3600)
    remaining = max(0, limit - len(recent))
    if wanted > remaining:
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}
        # When enough of this hour's creations age out of the window for the request to fit.
        over = len(recent) + wanted - limit
        if wanted <= limit and 0 < over <= len(recent):
            wait = recent[over - 1] + 3600 - now
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        noun = "link" if wanted == 1 else f"batch of {wanted} links"
        raise ApiError(
            429,
            f"Link creation limit of {limit} an hour reached: {remaining} left, "
            f"the {noun} was not created",
            headers=headers,
        )
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining - wanted)}


def _create(sandbox: Sandbox, items: list[NewLink]) -> tuple[list[Link], dict[str, str]]:
    now = sandbox.now()
    # One critical section: the limit check and the insert cannot interleave with another
    # creation (the server thread) or a test thread.
    with sandbox.store.lock:
        headers = _reserve(sandbox, len(items), now)
        try:
            links = sandbox.store.create_many(items, now)
        except SlugTaken as exc:
            raise ApiError(409, f"Custom slug already taken: {', '.join(exc.slugs)}") from None
    return links, headers


async def create_link(request: Request, sandbox: Sandbox) -> Response:
    new, errors = parse_link(await read_json(request))
    if new is None:
        raise BadRequest(errors)
    links, headers = _create(sandbox, [new])
    return JSONResponse(_created(links[0]), 201, headers=headers)


async def create_bulk(request: Request, sandbox: Sandbox) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"links"}:
        raise BadRequest({"links": "body must be an object with one key, 'links' (an array)"})
    items = body["links"]
    if not isinstance(items, list) or not items:
        raise BadRequest({"links": "must be a non-empty array of links"})
    if len(items) > MAX_BULK:
        raise BadRequest({"links": f"at most {MAX_BULK} links a request, got {len(items)}"})
    errors: dict[str, str] = {}
    parsed: list[NewLink] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        new, item_errors = parse_link(item, f"links[{i}].")
        errors.update(item_errors)
        if new is None:
            continue
        if new.custom_slug in seen:
            errors[f"links[{i}].custom_slug"] = f"repeats links[{seen[new.custom_slug]}]"
        elif new.custom_slug:
            seen[new.custom_slug] = i
        parsed.append(new)
    if errors:
        raise BadRequest(errors, "Validation failed; no link was created")
    links, headers = _create(sandbox, parsed)
    return JSONResponse(
        {"data": [_created(link) for link in links], "count": len(links)}, 201, headers=headers
    )


# -- reads and revocation ----------------------------------------------------------------------


def _find(sandbox: Sandbox, slug: str) -> Link:
    check_slug_path(slug)
    link = sandbox.store.get(slug)
    if link is None:
        raise ApiError(404, f"Link not found: {slug}")
    return link


async def list_links(request: Request, sandbox: Sandbox) -> Response:
    page, limit, sort, order = parse_list_query(request)
    links, total = sandbox.store.page(page, limit, sort, order)
    return JSONResponse(
        {
            "data": [link.to_json() for link in links],
            "total": total,
            "page": page,
            "limit": limit,
            "total_pages": math.ceil(total / limit),
        }
    )


async def get_link(request: Request, sandbox: Sandbox) -> Response:
    link = _find(sandbox, request.path_params["slug"])
    return JSONResponse({"link": link.to_json(), "short_url": SHORT_URL_BASE + link.slug})


async def revoke_link(request: Request, sandbox: Sandbox) -> Response:
    slug = request.path_params["slug"]
    _find(sandbox, slug)
    link = sandbox.store.revoke(slug, sandbox.now())
    assert link is not None  # links are never deleted
    return JSONResponse({"link": link.to_json(), "short_url": SHORT_URL_BASE + link.slug})


async def link_analytics(request: Request, sandbox: Sandbox) -> Response:
    slug = request.path_params["slug"]
    _find(sandbox, slug)
    period = parse_period(request)
    with sandbox.store.lock:
        body = shorten_analytics(sandbox.store.conn, slug, period, sandbox.now())
    return JSONResponse(body)


# -- the short link itself ---------------------------------------------------------------------


async def redirect(request: Request, sandbox: Sandbox) -> Response:
    """`GET /{slug}`: 302 to the destination, recording a click; no auth, as a browser would."""
    slug = request.path_params["slug"]
    try:
        link = _find(sandbox, slug)
    except ApiError:
        return PlainTextResponse("Short link not found", 404)
    if link.status == "revoked":
        return PlainTextResponse("This short link has been revoked", 410)
    if link.status == "flagged":
        return PlainTextResponse("This short link was flagged as unsafe and does not redirect", 403)
    client = request.client.host if request.client else None
    sandbox.store.add_clicks([click_from_request(slug, request.headers, client, sandbox.now())])
    return RedirectResponse(link.destination_url, 302)
