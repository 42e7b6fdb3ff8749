"""Following an API's `next` page links to the end or to a limit: the one pager every list
action uses, declared in its manifest and run after its declarative request.

    pagination:
      items: links              # the array each page holds
      next: pagination.next     # dotted path of the next page's URL ("" or absent: the end)
      limit: limit              # the input that caps how many items are returned (optional)
      page_size: size           # the query parameter a limit lowers the page size to (optional)
      max_page_size: 100

Output: `{<items>: [...], "count": n, "pages": p, "has_more": bool}`. `next` is followed as
given, whichever form it takes (a page number or a `search_after` cursor in its URL). The
listing ends on an empty or missing `next`, on a page with no items (nothing more is promised;
its `next` is still checked), or at the limit; a `next` already followed is an error (a
server bug must not loop a run forever, nor end it early as if complete), and so is one outside
the app's base URL (the credential is never sent to another host).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connector import errors as E
from connector.redact import redact

__all__ = ["PageReader", "Pagination", "follow_pages"]


class PageReader(Protocol):
    """What the pager needs of a handler context."""

    @property
    def action_id(self) -> str: ...

    async def request_url(self, url: str) -> Any: ...

    def is_under_base(self, url: str) -> bool: ...

    def absolute(self, url: str) -> str: ...


@dataclass(frozen=True)
class Pagination:
    items: str
    next: str = "pagination.next"
    limit: str | None = None
    page_size: str | None = None
    max_page_size: int | None = None

    @classmethod
    def parse(cls, spec: Any) -> Pagination | None:
        if spec is None or isinstance(spec, Pagination):
            return spec
        if hasattr(spec, "model_dump"):  # the manifest model's PaginationSpec
            spec = spec.model_dump()
        if not isinstance(spec, Mapping):
            return None
        return cls(**{k: v for k, v in spec.items() if k in cls.__dataclass_fields__})

    def first_page_params(self, params: dict[str, Any], inputs: Mapping[str, Any]) -> None:
        """With a limit below the page size, ask for no more than the limit on page one."""
        limit = inputs.get(self.limit) if self.limit else None
        if limit is not None and self.page_size and params.get(self.page_size) is None:
            top = self.max_page_size or int(limit)
            params[self.page_size] = max(1, min(int(limit), top))


def _dig(body: Any, dotted: str) -> Any:
    node = body
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _shown(url: str) -> str:
    # Redact before cutting: a cut through a token would leave its start unmasked.
    return repr(redact(url)[:100])


async def follow_pages(
    ctx: PageReader, first: Any, spec: Pagination, inputs: Mapping[str, Any], app: str
) -> dict[str, Any]:
    """Every item from `first` and the pages after it, up to the `limit` input."""
    limit = inputs.get(spec.limit) if spec.limit else None
    items: list[Any] = []
    seen: set[str] = set()
    pages = 0
    body = first
    while True:
        pages += 1
        page_items = _dig(body, spec.items)
        page_items = page_items if isinstance(page_items, list) else []
        items.extend(page_items)
        next_url = _dig(body, spec.next)
        if limit is not None and len(items) >= limit:
            more = len(items) > limit or bool(next_url)
            return {spec.items: items[:limit], "count": limit, "pages": pages, "has_more": more}
        if not next_url or not isinstance(next_url, str):
            return {spec.items: items, "count": len(items), "pages": pages, "has_more": False}
        next_url = ctx.absolute(next_url)
        if next_url in seen:
            raise E.FatalError(
                f"pagination.next repeats a page already read after {len(items)} items "
                f"({_shown(next_url)}); stopping rather than looping",
                where=ctx.action_id,
            )
        if not ctx.is_under_base(next_url):
            raise E.FatalError(
                f"pagination.next points outside the {app} API ({_shown(next_url)}); "
                "refusing to send the credential there",
                where=ctx.action_id,
            )
        if not page_items:
            return {spec.items: items, "count": len(items), "pages": pages, "has_more": False}
        seen.add(next_url)
        body = await ctx.request_url(next_url)
