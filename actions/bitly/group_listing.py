"""A group's links matching a filter, every page read: what the composite actions select from.

Archived links are included (a lookup must find an archived link rather than make another; a
bulk change must see links already in its target state), and each link comes once even if a
page shifted while the listing was read. Every page is read under the composite's retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connector.engine.request_tries import RequestTries, request_key
from connector.pagination import Pagination, follow_pages
from connector.runner import HandlerContext

from .request_retry import request_retried, tries_for

__all__ = ["group_links"]

#: links a page: few requests, small answers
PAGE_SIZE = 100
_PAGES = Pagination(items="links")


class _RetriedPages:
    """The pager's view of a handler context, each page read retried (`request_retry`)."""

    def __init__(self, ctx: HandlerContext, tries: RequestTries) -> None:
        self.ctx, self.tries = ctx, tries
        self.action_id = ctx.action_id

    async def request_url(self, url: str) -> Any:
        # The page's URL is its identity; its path (and a digest) names it in the run log.
        key, label = request_key("GET", urlsplit(url).path, {"url": url})
        return await self.tries.send(key, lambda: self.ctx.request_url(url), label=label)

    def is_under_base(self, url: str) -> bool:
        return self.ctx.is_under_base(url)

    def absolute(self, url: str) -> str:
        return self.ctx.absolute(url)


async def group_links(
    ctx: HandlerContext, group: str, params: Mapping[str, Any], tries: RequestTries | None = None
) -> list[dict[str, Any]]:
    tries = tries or tries_for(ctx)
    query = {"archived": "both", "size": PAGE_SIZE, **params}
    first = await request_retried(
        ctx,
        "GET",
        "/groups/{group_guid}/bitlinks",
        tries=tries,
        params=query,
        path_params={"group_guid": group},
    )
    listed = await follow_pages(_RetriedPages(ctx, tries), first, _PAGES, {}, ctx.client.app)
    unique: dict[str, dict[str, Any]] = {}
    for link in listed["links"]:
        if isinstance(link, dict) and isinstance(link.get("id"), str):
            unique.setdefault(link["id"], link)
    return list(unique.values())
