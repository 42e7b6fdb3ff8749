"""Read-backs for Bitly creates that a resend would repeat (campaigns, channels, webhooks)
or refuse (a custom back-half, 409): after a lost answer the engine asks here whether the write
took effect (`write_safety: {strategy: read_back}`, `reconcile:` in the manifest).

Each returns what the create would have returned when the target is found, None when it is
not (the create is sent again), and raises OutcomeUnknown when it cannot tell: Bitly gives
campaigns, channels and webhooks ids of its own, so they are found by what the create named
(name and group, name and URL), and two matches are ambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector import errors as E
from connector.runner import HandlerContext

__all__ = [
    "reconcile_campaign",
    "reconcile_channel",
    "reconcile_custom_bitlink",
    "reconcile_webhook",
]


async def _only_match(
    ctx: HandlerContext,
    path: str,
    items: str,
    want: Mapping[str, Any],
    *,
    params: Mapping[str, Any] | None = None,
    path_params: Mapping[str, Any] | None = None,
) -> Any | None:
    body = await ctx.request("GET", path, params=params, path_params=path_params)
    rows = body.get(items) if isinstance(body, dict) else None
    found = [
        row
        for row in rows or []
        if isinstance(row, dict) and all(row.get(k) == v for k, v in want.items())
    ]
    if len(found) > 1:
        named = ", ".join(f"{k}={v!r}" for k, v in want.items())
        raise E.OutcomeUnknown(
            f"{len(found)} {items} match {named}: cannot tell which one the lost create made",
            where=ctx.action_id,
        )
    return found[0] if found else None


async def reconcile_campaign(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    group = inputs["group_guid"]
    want = {"name": inputs["name"], "group_guid": group}
    return await _only_match(ctx, "/campaigns", "campaigns", want, params={"group_guid": group})


async def reconcile_channel(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    group = inputs["group_guid"]
    want = {"name": inputs["name"], "group_guid": group}
    return await _only_match(ctx, "/channels", "channels", want, params={"group_guid": group})


async def reconcile_webhook(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    org = inputs["organization_guid"]
    return await _only_match(
        ctx,
        "/organizations/{organization_guid}/webhooks",
        "webhooks",
        {"name": inputs["name"], "url": inputs["url"]},
        path_params={"organization_guid": org},
    )


async def reconcile_custom_bitlink(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    """Ours when the back-half exists and points at the Bitlink asked for; absent: not
    applied; pointing elsewhere: someone else's, so the create really conflicts (None)."""
    try:
        body = await ctx.request(
            "GET",
            "/custom_bitlinks/{custom_bitlink}",
            path_params={"custom_bitlink": inputs["custom_bitlink"]},
        )
    except E.NotFound:
        return None
    target = body.get("bitlink") if isinstance(body, dict) else None
    target_id = target.get("id") if isinstance(target, dict) else None
    return body if target_id == inputs["bitlink_id"] else None
