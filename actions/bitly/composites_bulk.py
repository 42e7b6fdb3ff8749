"""Archive or Tag Links in Bulk: select a group's links, then change them with Bitly's bulk
endpoint (PATCH /groups/{group_guid}/bitlinks, at most 100 links a request).

Links are selected by tag, by creation date or from a list. Each selected link's change is
worked out from its current state, and only links it would change are sent: a dry run
returns that plan and writes nothing. Every change sets a state (archived or not, a tag
present or absent), so applying it again is harmless; a retry after a lost answer selects
again, finds the links already changed in their target state, and sends only the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector import errors as E
from connector.engine.request_tries import RequestTries
from connector.http.paths import normalize_bitlink
from connector.runner import HandlerContext

from .group_listing import group_links
from .request_retry import request_retried, tries_for

__all__ = ["CHUNK", "archive_or_tag_links"]

#: links per bulk request: Bitly's limit
CHUNK = 100


def _bad(ctx: HandlerContext, key: str, message: str) -> E.InvalidInput:
    return E.InvalidInput(message, where=f"{ctx.action_id}: {key}")


def _epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _group_of(link: Mapping[str, Any]) -> str | None:
    refs = link.get("references")
    url = refs.get("group") if isinstance(refs, Mapping) else None
    return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else None


async def _named(
    ctx: HandlerContext, group: str, values: list[Any], tries: RequestTries
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The listed links that exist in the group, and the skipped ones with why."""
    found: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, value in enumerate(values):
        try:
            key = normalize_bitlink(value)
        except E.InvalidInput as exc:
            raise _bad(ctx, f"links[{i}]", exc.message) from None
        if key in seen:
            continue
        seen.add(key)
        try:
            link = await request_retried(
                ctx, "GET", "/bitlinks/{bitlink}", tries=tries, path_params={"bitlink": key}
            )
        except (E.NotFound, E.Gone):  # gone or never there: nothing to change
            skipped.append({"id": key, "reason": "not found"})
            continue
        owner = _group_of(link) if isinstance(link, dict) else None
        if owner is not None and owner != group:
            skipped.append({"id": key, "reason": f"in group {owner}, not {group}"})
            continue
        found.append(link)
    return found, skipped


async def _select(
    ctx: HandlerContext, inputs: Mapping[str, Any], tries: RequestTries
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    group = inputs["group_guid"]
    by = inputs["select_by"]
    if by == "tag":
        tags = inputs.get("tags") or []
        if not tags:
            raise _bad(ctx, "tags", "select_by tag needs at least one tag")
        return await group_links(ctx, group, {"tags": list(tags)}, tries), []
    if by == "created":
        names = ("created_after", "created_before")
        params = {name: _epoch(inputs[name]) for name in names if inputs.get(name)}
        if not params:
            raise _bad(ctx, "created_after", "select_by created needs created_after or before")
        if len(params) == 2 and params["created_after"] >= params["created_before"]:
            raise _bad(ctx, "created_before", "must be later than created_after")
        return await group_links(ctx, group, params, tries), []
    links = inputs.get("links") or []
    if not links:
        raise _bad(ctx, "links", "select_by list needs at least one Bitlink")
    return await _named(ctx, group, list(links), tries)


def _change(inputs: Mapping[str, Any], ctx: HandlerContext) -> tuple[dict[str, Any], Any]:
    """The bulk request's fields, and a function giving a link's state after the change."""
    change = inputs["change"]
    if change in ("archive", "unarchive"):
        target = change == "archive"
        return {"action": "archive", "archive": target}, lambda link: {"archived": target}
    add = list(dict.fromkeys(inputs.get("add_tags") or []))
    remove = set(inputs.get("remove_tags") or [])
    if not add and not remove:
        raise _bad(ctx, "add_tags", "change edit_tags needs add_tags or remove_tags")
    if set(add) & remove:
        both = ", ".join(sorted(set(add) & remove))
        raise _bad(ctx, "remove_tags", f"{both}: a tag cannot be added and removed at once")

    def after(link: Mapping[str, Any]) -> dict[str, Any]:
        tags = [t for t in link.get("tags") or [] if t not in remove]
        return {"tags": tags + [t for t in add if t not in tags]}

    fields: dict[str, Any] = {"action": "edit_tags"}
    if add:
        fields["add_tags"] = add
    if remove:
        fields["remove_tags"] = sorted(remove)
    return fields, after


def _state(link: Mapping[str, Any], keys: Any) -> dict[str, Any]:
    return {k: (bool(link.get(k)) if k == "archived" else list(link.get(k) or [])) for k in keys}


async def archive_or_tag_links(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    fields, after = _change(inputs, ctx)
    tries = tries_for(ctx)
    links, skipped = await _select(ctx, inputs, tries)
    changes: list[dict[str, Any]] = []
    unchanged: list[str] = []
    for link in links:
        target = after(link)
        before = _state(link, target)
        if before == target:
            unchanged.append(link["id"])
        else:
            changes.append({"id": link["id"], "before": before, "after": target})
    out: dict[str, Any] = {
        "dry_run": bool(inputs.get("dry_run")),
        "selected": len(links),
        "changes": changes,
        "unchanged": unchanged,
        "skipped": skipped,
        "requests": 0,
        "applied": [],
    }
    if out["dry_run"]:
        return out
    group = inputs["group_guid"]
    ids = [c["id"] for c in changes]
    for start in range(0, len(ids), CHUNK):
        answer = await request_retried(
            ctx,
            "PATCH",
            "/groups/{group_guid}/bitlinks",
            tries=tries,
            json={**fields, "links": ids[start : start + CHUNK]},
            path_params={"group_guid": group},
        )
        out["requests"] += 1
        done = answer.get("links") if isinstance(answer, dict) else None
        out["applied"].extend(str(x) for x in done or [])
    return out
