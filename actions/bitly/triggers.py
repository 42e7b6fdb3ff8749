"""Bitly's polling triggers: New Bitlink, New Click Activity, Click Threshold Reached.

New Bitlink lists the group's links created since the newest one the previous poll saw,
through bitly.list_group_bitlinks, which follows pagination to the end: however many links
arrived between two polls, all are returned. Bitly dates a link to the second, so the state
keeps that second and the ids already returned in it: a link created later in the same
second is new, one already returned is not. Events come oldest first.

The click triggers read a total (a link's clicks summary over all time, or the sum of a
group's monthly clicks) and compare it with the previous poll's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connector import errors as E
from connector.runner import HandlerContext
from connector.triggers.poll import previous_state, replay_requested, run_action

__all__ = ["click_threshold_reached", "new_bitlink", "new_click_activity"]


def _created_second(ctx: HandlerContext, link: dict[str, Any]) -> int:
    value = link.get("created_at")
    try:
        return int(datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").timestamp())
    except ValueError:
        try:
            return int(datetime.fromisoformat(str(value)).timestamp())
        except ValueError:
            raise E.FatalError(
                f"link {link.get('id')!r} has no readable created_at ({str(value)[:40]!r})",
                where=ctx.action_id,
            ) from None


async def _links(ctx: HandlerContext, group: str, **query: Any) -> list[dict[str, Any]]:
    """The group's links (archived too: archiving a new link must not hide it), newest first,
    once each even if a page shifted while it was read."""
    raw = {"group_guid": group, "archived": "both", **query}
    output = await run_action(ctx, "bitly.list_group_bitlinks", raw)
    unique: dict[str, dict[str, Any]] = {}
    for link in output["links"]:
        unique.setdefault(str(link["id"]), link)
    return list(unique.values())


def _boundary(
    links: list[tuple[int, dict[str, Any]]], since: int, seen: set[str]
) -> dict[str, Any]:
    """The state after `links`: the newest second, and the ids returned in it."""
    newest = max([since, *(second for second, _ in links)])
    at_newest = {str(link["id"]) for second, link in links if second == newest}
    if newest == since:
        at_newest |= seen
    return {"since": newest, "seen": sorted(at_newest)}


async def new_bitlink(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    group = inputs["group_guid"]
    state = previous_state(ctx)
    if state is None and not replay_requested(ctx):
        # The newest link's second, then every link of that second: where things stand.
        newest = await _links(ctx, group, limit=1)
        if not newest:
            return {"events": [], "state": {"since": 0, "seen": []}}
        second = _created_second(ctx, newest[0])
        recent = await _links(ctx, group, created_after=second - 1)
        dated = [(_created_second(ctx, link), link) for link in recent]
        return {"events": [], "state": _boundary(dated, 0, set())}
    since, seen = _read_state(ctx, state)
    query = {"created_after": since - 1} if since > 0 else {}
    dated = [(_created_second(ctx, link), link) for link in await _links(ctx, group, **query)]
    new = [
        (second, link)
        for second, link in reversed(dated)  # oldest first
        if second > since or (second == since and str(link["id"]) not in seen)
    ]
    return {"events": [link for _, link in new], "state": _boundary(new, since, seen)}


def _read_state(ctx: HandlerContext, state: dict[str, Any] | None) -> tuple[int, set[str]]:
    if state is None:  # a replay: everything is new
        return 0, set()
    since, seen = state.get("since"), state.get("seen")
    if type(since) is not int or not isinstance(seen, list):
        raise E.InvalidInput(
            "the stored state is not a New Bitlink state ({since: int, seen: [ids]})",
            where=ctx.action_id,
        )
    return since, {str(s) for s in seen}


async def _total_clicks(ctx: HandlerContext, inputs: dict[str, Any]) -> tuple[str, str, int]:
    """(scope, target, total clicks so far) of the link or the group the inputs name."""
    bitlink, group = inputs.get("bitlink"), inputs.get("group_guid")
    if (bitlink is None) == (group is None):
        raise E.InvalidInput("give exactly one of bitlink and group_guid", where=ctx.action_id)
    if bitlink is not None:
        summary = await run_action(
            ctx, "bitly.get_clicks_summary", {"bitlink": bitlink, "unit": "day", "units": -1}
        )
        return "bitlink", str(bitlink), int(summary["total_clicks"])
    body = await ctx.request(
        "GET",
        "/groups/{group_guid}/clicks",
        params={"unit": "month", "units": -1},
        path_params={"group_guid": group},
    )
    buckets = body.get("data") if isinstance(body, dict) else None
    if not isinstance(buckets, list):
        raise E.FatalError("the group's clicks came without a data list", where=ctx.action_id)
    return "group", str(group), sum(int(b.get("count") or 0) for b in buckets)


def _previous_total(ctx: HandlerContext, state: dict[str, Any]) -> int:
    total = state.get("total")
    if type(total) is not int:
        raise E.InvalidInput("the stored state has no click total", where=ctx.action_id)
    return total


async def new_click_activity(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    scope, target, total = await _total_clicks(ctx, inputs)
    state = previous_state(ctx)
    if state is None:
        previous = 0 if replay_requested(ctx) else total
    else:
        previous = _previous_total(ctx, state)
    events = []
    if total > previous:
        events.append(
            {
                "id": f"{target}@{total}",
                "scope": scope,
                "target": target,
                "previous_total": previous,
                "total_clicks": total,
                "delta": total - previous,
            }
        )
    # A total that fell (clicks past the API's retention) is the new baseline.
    return {"events": events, "state": {"total": total}}


async def click_threshold_reached(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    threshold = int(inputs["threshold"])
    _, target, total = await _total_clicks(ctx, {"bitlink": inputs["bitlink"]})
    state = previous_state(ctx)
    reached = total >= threshold
    if state is None:
        announce = reached and replay_requested(ctx)
    else:
        _previous_total(ctx, state)
        announce = reached and not state.get("reached")
    events = []
    if announce:
        events.append(
            {
                "id": f"{target}>={threshold}",
                "bitlink": target,
                "threshold": threshold,
                "total_clicks": total,
            }
        )
    return {"events": events, "state": {"total": total, "reached": reached}}
