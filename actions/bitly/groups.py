"""bitly.list_group_bitlinks: every bitlink of a group, page after page, up to a limit.

Output:
    {"links": [<bitlink objects as Bitly returns them>], "count": 120, "pages": 3,
     "has_more": false}

Bitly pages with `pagination.next`: an absolute URL carrying `page=` in the v4 spec, or
`search_after=` in newer versions. Either way the handler follows `next` as given, and stops
on "" or a missing `next`, or at `limit` links; a URL that repeats is an error (a server
bug must not loop a run forever, nor end it early as if complete). A `next` that leaves
the app's base URL is refused, so the credential is never sent to another host.
"""

from __future__ import annotations

from typing import Any

from connector import errors as E
from connector.redact import redact
from connector.runner import HandlerContext

__all__ = ["list_group_bitlinks"]

#: inputs that are not query parameters of GET /groups/{group_guid}/bitlinks
_NOT_QUERY = frozenset({"group_guid", "limit"})
_MAX_PAGE_SIZE = 100


def _shown(url: str) -> str:
    # Redact before cutting: a cut through a token would leave its start unmasked.
    return repr(redact(url)[:100])


async def list_group_bitlinks(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    limit = inputs.get("limit")
    params = {k: v for k, v in inputs.items() if k not in _NOT_QUERY and v is not None}
    if limit is not None and "size" not in params:
        params["size"] = max(1, min(int(limit), _MAX_PAGE_SIZE))
    body = await ctx.request(
        "GET",
        "/groups/{group_guid}/bitlinks",
        params=params,
        path_params={"group_guid": inputs["group_guid"]},
    )
    links: list[Any] = []
    seen: set[str] = set()
    pages = 0
    while True:
        pages += 1
        page_links = body.get("links") if isinstance(body, dict) else None
        links.extend(page_links or [])
        pagination = body.get("pagination") if isinstance(body, dict) else None
        next_url = pagination.get("next") if isinstance(pagination, dict) else None
        if limit is not None and len(links) >= limit:
            more = len(links) > limit or bool(next_url)
            return {"links": links[:limit], "count": limit, "pages": pages, "has_more": more}
        if not next_url or not isinstance(next_url, str):
            return {"links": links, "count": len(links), "pages": pages, "has_more": False}
        next_url = str(ctx.client.base_url.join(next_url))
        if next_url in seen:
            raise E.FatalError(
                f"pagination.next repeats a page already read after {len(links)} links "
                f"({_shown(next_url)}); stopping rather than looping",
                where=ctx.action_id,
            )
        if not ctx.is_under_base(next_url):
            raise E.FatalError(
                f"pagination.next points outside the {ctx.client.app} API "
                f"({_shown(next_url)}); refusing to send the credential there",
                where=ctx.action_id,
            )
        seen.add(next_url)
        body = await ctx.request_url(next_url)
