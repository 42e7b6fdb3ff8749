"""Get Usage and Limits: Bitly's hourly platform limits per endpoint and the organisation's
monthly plan limits, with what is used and what is left of each, in one answer, so a workflow
can check before a big run instead of finding out from a 429.

The figures are read the way the rate budget learns them (actions/bitly/limits.py): per
endpoint the hourly limit and this hour's count (Bitly's per-minute limit is a tenth of it),
per plan figure this month's count; monthly figures reset on the 1st, 00:00 UTC.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from connector.runner import HandlerContext

from .limits import default_organization, plan_figures, platform_limits
from .request_retry import retried, tries_for

__all__ = ["get_usage_and_limits", "next_month_start"]


def next_month_start(now: float) -> str:
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _path(label: str) -> str:
    return label.split(" ", 1)[1] if " " in label else label


def _wanted(endpoint: str | None) -> str | None:
    """`shorten`, `/shorten` or `/v4/shorten` -> `/v4/shorten`."""
    if not endpoint:
        return None
    text = "/" + endpoint.strip().strip("/")
    return text if text.startswith("/v4/") else "/v4" + text


async def get_usage_and_limits(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    where = ctx.action_id
    wanted = _wanted(inputs.get("endpoint"))
    tries = tries_for(ctx)
    hourly = []
    limits = await retried(
        tries, "GET /user/platform_limits", lambda: platform_limits(ctx.client, where)
    )
    for limit in limits:
        path = _path(limit.label)
        if wanted is not None and path != wanted:
            continue
        per_hour = limit.per_hour or 0
        hourly.append(
            {
                "endpoint": path,
                "method": limit.method,
                "limit_per_hour": per_hour,
                "limit_per_minute": limit.per_minute or max(1, per_hour // 10),
                "used_this_hour": limit.used_hour,
                "remaining_this_hour": max(0, per_hour - limit.used_hour),
            }
        )
    org = inputs.get("organization_guid")
    if not org:
        org = await retried(
            tries,
            "GET /user, GET /groups/{default}",
            lambda: default_organization(ctx.client, where),
        )
    figures = await retried(
        tries,
        f"GET /organizations/{org}/plan_limits",
        lambda: plan_figures(ctx.client, org, where),
    )
    resets = next_month_start(float(ctx.extra.get("now") or time.time()))
    monthly = [
        {
            "name": figure.name,
            "description": figure.description,
            "limit": figure.limit,
            "used_this_month": figure.count,
            "remaining_this_month": figure.left,
            "resets_at": resets,
        }
        for figure in figures
    ]
    exhausted = [f"{h['method']} {h['endpoint']}" for h in hourly if h["remaining_this_hour"] == 0]
    exhausted += [m["name"] for m in monthly if m["remaining_this_month"] == 0]
    return {
        "organization_guid": org,
        "hourly": hourly,
        "monthly": monthly,
        "exhausted": exhausted,
    }
