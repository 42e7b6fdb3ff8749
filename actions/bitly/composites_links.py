"""Composite link actions: Find or Create Bitlink, Shorten Many URLs.

Find or Create looks the long URL up before it shortens it. Only a 404 of the Bitlink asked
for means "not there"; every other failure of the lookup (a bad token, a throttle, a 5xx, an
unknown group) is raised as it is, so a lookup that could not be made never turns into a
create. Bitly answers a shorten of a URL already shortened in the group with the existing
link, so a create sent twice cannot make a second link either; the read-back after a lost
answer (`reconcile_find_or_create`) only makes the output say "created" truthfully.

Shorten Many sends one POST /shorten per distinct URL through the action's client (the app's
shared rate budget and error translation), retries each URL on its own under a retry policy
(a 30% fault rate must not fail a batch of hundreds), and reports each URL's outcome in input
order; a duplicate of an earlier URL gets that URL's result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connector import errors as E
from connector.engine.request_tries import request_key
from connector.runner import HandlerContext

from .fan_out import bounded_map
from .group_listing import group_links
from .request_retry import request_retried, tries_for

__all__ = [
    "find_or_create_bitlink",
    "reconcile_find_or_create",
    "shorten_many_urls",
]

#: errors that hold for every URL of the batch: sending the rest cannot succeed
_ACCOUNT_WIDE = (E.AuthenticationError, E.QuotaExhausted, E.PermissionDenied)


# -- Find or Create ---------------------------------------------------------------------------


def _same_url(a: Any, b: str) -> bool:
    # Bitly stores a bare host with its slash (https://example.com -> https://example.com/).
    return isinstance(a, str) and a.strip().rstrip("/") == b.strip().rstrip("/")


def _on_domain(link: Mapping[str, Any], domain: str | None) -> bool:
    return not domain or str(link.get("id", "")).startswith(domain.lower() + "/")


async def default_group(ctx: HandlerContext) -> str:
    """The user's default group (GET /user), for actions whose group input is empty."""
    user = await request_retried(ctx, "GET", "/user")
    group = user.get("default_group_guid") if isinstance(user, dict) else None
    if not isinstance(group, str) or not group:
        raise E.FatalError("Bitly's user has no default_group_guid", where=ctx.action_id)
    return group


async def _search_group(ctx: HandlerContext, group: str, long_url: str, domain: str | None) -> Any:
    """The group's link for `long_url` (archived ones too), or None."""
    for link in await group_links(ctx, group, {"query": long_url}):
        if _same_url(link.get("long_url"), long_url) and _on_domain(link, domain):
            return link
    return None


async def _lookup(ctx: HandlerContext, inputs: Mapping[str, Any]) -> Any:
    long_url = inputs["long_url"]
    bitlink = inputs.get("bitlink")
    if bitlink:
        try:
            link = await request_retried(
                ctx, "GET", "/bitlinks/{bitlink}", path_params={"bitlink": bitlink}
            )
        except E.NotFound:
            link = None  # a 404, and only a 404, means the link asked for does not exist
        if isinstance(link, dict):
            if not _same_url(link.get("long_url"), long_url):
                raise E.InvalidInput(
                    f"{bitlink} exists but points at {str(link.get('long_url'))[:200]!r}, "
                    f"not at {long_url[:200]!r}",
                    where=f"{ctx.action_id}: bitlink",
                )
            return link
    group = inputs.get("group_guid") or await default_group(ctx)
    return await _search_group(ctx, group, long_url, inputs.get("domain"))


def _create_body(inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """POST /shorten for a plain link, POST /bitlinks when a title or tags come with it."""
    keys = ("long_url", "domain", "group_guid")
    full = bool(inputs.get("title") or inputs.get("tags"))
    if full:
        keys += ("title", "tags")
    body = {k: inputs[k] for k in keys if inputs.get(k) not in (None, "", [])}
    return ("/bitlinks" if full else "/shorten"), body


def _found_or_created(link: Any, created: bool) -> dict[str, Any]:
    return {"outcome": "created" if created else "found", "created": created, "bitlink": link}


async def find_or_create_bitlink(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    try:
        found = await _lookup(ctx, inputs)
    except E.ActionError as exc:
        # Nothing was written yet: whatever failed, sending it all again cannot duplicate.
        exc.write_applied = False
        raise
    if found is not None:
        return _found_or_created(found, created=False)
    path, body = _create_body(inputs)
    # Sent again after a lost answer, it returns the link the first try made.
    link = await request_retried(ctx, "POST", path, json=body)
    return _found_or_created(link, created=True)


async def reconcile_find_or_create(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    """After a lost answer to the create (lookup errors are marked not applied, so only the
    create's reach here): the link exists -> the create made it; absent -> not applied."""
    found = await _lookup(ctx, inputs)
    return None if found is None else _found_or_created(found, created=True)


# -- Shorten Many -----------------------------------------------------------------------------


def _error(exc: E.ConnectorError) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": exc.kind, "message": exc.message}
    for name in ("status", "code"):
        value = getattr(exc, name, None)
        if value is not None:
            out[name] = value
    return out


def _url_problem(value: Any) -> str | None:
    """Why `value` cannot be shortened without asking Bitly, or None."""
    if not isinstance(value, str) or not value:
        return "not a URL"
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    return None


class _Batch:
    """One run of Shorten Many: the shared stop flag once an account-wide error is seen."""

    def __init__(self, ctx: HandlerContext, inputs: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.body = {k: inputs[k] for k in ("domain", "group_guid") if inputs.get(k)}
        self.tries = tries_for(ctx)
        self.stopped: E.ActionError | None = None

    async def _send(self, body: dict[str, Any]) -> Any:
        try:
            return await self.ctx.request("POST", "/shorten", json=body)
        except _ACCOUNT_WIDE as exc:
            self.stopped = exc
            raise

    async def shorten(self, url: str) -> dict[str, Any]:
        body = {"long_url": url, **self.body}
        key, label = request_key("POST", "/shorten", None, body)
        try:
            # Once stopped, not sent: the same answer is certain (a bad token, a spent quota).
            link = await self.tries.send(
                key, lambda: self._send(body), label=label, halt=lambda: self.stopped
            )
        except E.ActionError as exc:
            return {"ok": False, "error": _error(exc), "attempts": self.tries.tries(key)}
        return {"ok": True, "bitlink": link, "attempts": self.tries.tries(key)}


async def shorten_many_urls(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    urls = [u.strip() if isinstance(u, str) else u for u in inputs["urls"]]
    first_index: dict[str, int] = {}
    for i, url in enumerate(urls):
        if isinstance(url, str) and url:
            first_index.setdefault(url, i)
    batch = _Batch(ctx, inputs)
    distinct = [u for u in first_index if _url_problem(u) is None]
    outcomes = dict(zip(distinct, await bounded_map(ctx, batch.shorten, distinct), strict=True))
    results: list[dict[str, Any]] = []
    for i, url in enumerate(urls):
        row: dict[str, Any] = {"index": i, "long_url": url if isinstance(url, str) else str(url)}
        problem = _url_problem(url)
        if problem is not None:
            row.update(ok=False, error={"kind": "invalid_input", "message": problem}, attempts=0)
        else:
            row.update(outcomes[url])
            if first_index[url] != i:
                row["duplicate_of"] = first_index[url]
        results.append(row)
    ok = sum(1 for r in results if r["ok"])
    return {
        "results": results,
        "total": len(results),
        "distinct": len(first_index),
        "succeeded": ok,
        "failed": len(results) - ok,
    }
