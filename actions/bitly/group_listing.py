"""A group's links matching a filter, every page read: what the composite actions select from.

Archived links are included (a lookup must find an archived link rather than make another; a
bulk change must see links already in its target state), and each link comes once even if a
page shifted while the listing was read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.pagination import Pagination, follow_pages
from connector.runner import HandlerContext

__all__ = ["group_links"]

#: links a page: few requests, small answers
PAGE_SIZE = 100
_PAGES = Pagination(items="links")


async def group_links(
    ctx: HandlerContext, group: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    query = {"archived": "both", "size": PAGE_SIZE, **params}
    first = await ctx.request(
        "GET", "/groups/{group_guid}/bitlinks", params=query, path_params={"group_guid": group}
    )
    listed = await follow_pages(ctx, first, _PAGES, {}, ctx.client.app)
    unique: dict[str, dict[str, Any]] = {}
    for link in listed["links"]:
        if isinstance(link, dict) and isinstance(link.get("id"), str):
            unique.setdefault(link["id"], link)
    return list(unique.values())
