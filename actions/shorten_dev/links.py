"""shorten.dev link handlers: list every page, create with a slug that makes it checkable.

list_links output:
    {"links": [<link objects>], "count": 25, "total": 25, "pages": 3, "has_more": false}

create_link output: the API's 201 body, `{"link": {...}, "short_url": "https://r.shorten.dev/<slug>"}`
(plus `warning` when the destination was flagged).

Every create names its slug: the user's `custom_slug`, or one the engine chose and recorded
before sending (the manifests' `write_safety: client_key`). The slug is never reassigned, so
reading it back tells whether our write landed (same destination) or the slug belongs to
someone else (different destination). `reconcile_create` and `reconcile_bulk_create` do
that read; `create_link` uses it too when the API answers 409, so a resend of a create that
had in fact succeeded returns that link instead of failing on its own earlier write.
"""

from __future__ import annotations

from typing import Any

from connector import errors as E
from connector.runner import HandlerContext

__all__ = ["create_link", "list_links", "reconcile_bulk_create", "reconcile_create"]

_MAX_PAGE = 50  # the API's maximum `limit`
_SHORT_HOST = "https://r.shorten.dev/"


async def list_links(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    limit = inputs.get("limit")
    per_page = min(_MAX_PAGE, int(inputs.get("page_size") or _MAX_PAGE))
    if limit is not None:
        per_page = max(1, min(per_page, int(limit)))
    base_params = {k: inputs[k] for k in ("sort", "order") if inputs.get(k) is not None}
    links: list[Any] = []
    page, total, total_pages = 1, None, None
    while True:
        body = await ctx.request(
            "GET", "/links", params={**base_params, "page": page, "limit": per_page}
        )
        data = body.get("data") if isinstance(body, dict) else None
        links.extend(data or [])
        if isinstance(body, dict):
            total = body.get("total", total)
            total_pages = body.get("total_pages", total_pages)
        if isinstance(total_pages, int) and not isinstance(total_pages, bool):
            last = not data or page >= total_pages
        else:  # no page count: a short page is the last one (never stop early on a full one)
            last = not data or len(data) < per_page
        if limit is not None and len(links) >= limit:
            more = len(links) > limit or not last
            return _listing(links[:limit], total, page, more)
        if last:
            return _listing(links, total, page, False)
        page += 1


def _listing(links: list[Any], total: Any, pages: int, more: bool) -> dict[str, Any]:
    return {
        "links": links,
        "count": len(links),
        "total": total if isinstance(total, int) else len(links),
        "pages": pages,
        "has_more": more,
    }


def _create_body(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: inputs[k]
        for k in ("destination_url", "custom_slug", "tags")
        if inputs.get(k) not in (None, "", [])
    }


async def create_link(ctx: HandlerContext, inputs: dict[str, Any]) -> Any:
    try:
        return await ctx.request("POST", "/links", json=_create_body(inputs))
    except E.Conflict:
        if not inputs.get("custom_slug"):
            raise
        existing = await reconcile_create(ctx, inputs)
        if existing is None:
            raise
        return existing


async def reconcile_create(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    """The link a lost create made, if it can be proven; None when it was not applied.

    Without a slug nothing ties a link to our request (the API picks a random one), so the
    outcome cannot be known: OutcomeUnknown, never None, which would mean "send it again".
    """
    slug = inputs.get("custom_slug")
    if not slug:
        raise E.OutcomeUnknown("a create without a slug cannot be read back", where=ctx.action_id)
    link = await _read_link(ctx, str(slug))
    if link is None or not _same_url(link.get("destination_url"), inputs.get("destination_url")):
        return None  # absent, or the slug is someone else's: the create really conflicts
    return _created(link, str(slug))


async def reconcile_bulk_create(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    """The links a lost bulk create made. A batch is all or nothing: every slug ours means
    applied, none means not applied; anything else cannot be explained, so OutcomeUnknown."""
    wanted = inputs.get("links") or []
    if not all(isinstance(i, dict) and i.get("custom_slug") for i in wanted):
        raise E.OutcomeUnknown(
            "a bulk create with links without a slug cannot be read back", where=ctx.action_id
        )
    found: list[dict[str, Any]] = []
    for item in wanted:
        slug = str(item["custom_slug"])
        link = await _read_link(ctx, slug)
        if link is not None and _same_url(link.get("destination_url"), item.get("destination_url")):
            found.append(_created(link, slug))
    if not found:
        return None
    if len(found) < len(wanted):
        raise E.OutcomeUnknown(
            f"{len(found)} of the batch's {len(wanted)} links exist; a batch is created whole, "
            "so some slugs were taken before it",
            where=ctx.action_id,
        )
    return {"data": found, "count": len(found)}


async def _read_link(ctx: HandlerContext, slug: str) -> dict[str, Any] | None:
    try:
        body = await ctx.request("GET", "/links/{slug}", path_params={"slug": slug})
    except E.NotFound:
        return None
    link = body.get("link", body) if isinstance(body, dict) else None
    return link if isinstance(link, dict) else None


def _created(link: dict[str, Any], slug: str) -> dict[str, Any]:
    """The create's output shape, from the link read back (a flagged link's warning too)."""
    out: dict[str, Any] = {"link": link, "short_url": _SHORT_HOST + slug}
    if link.get("status") == "flagged":
        out["warning"] = (
            f"The destination was judged unsafe ({link.get('threat_type')}); "
            "the link was created but will not redirect"
        )
    return out


def _same_url(a: Any, b: Any) -> bool:
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return a.strip().rstrip("/") == b.strip().rstrip("/")
