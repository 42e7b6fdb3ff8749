"""Campaign Performance Report: a campaign's channels, their links, clicks and breakdowns over
a period, rolled up per channel and for the whole campaign (the "weekly campaign performance
report" the Bitly action page promises).

Each link's figures come from bitly.get_link_click_metrics, run through the same runner (the
app's rate budget, error translation and timestamp normalisation). A link in two channels
counts in each channel and once in the campaign's totals. Breakdowns are merged by value and
cut to the `size` largest; a breakdown the plan lacks (402) is named in `unavailable` once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from connector import errors as E
from connector.runner import HandlerContext

from .fan_out import bounded_map
from .group_listing import group_links
from .request_retry import request_retried, run_retried, tries_for

__all__ = ["campaign_performance_report"]

BREAKDOWNS = ("countries", "devices", "referrers")


def _rows(counter: Counter[str], size: int | None = None) -> list[dict[str, Any]]:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"value": v, "clicks": n} for v, n in ranked[:size]]


def _by_date(metrics: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Clicks per bucket summed over links, newest first (as Bitly lists them)."""
    total: Counter[str] = Counter()
    for m in metrics:
        for bucket in m.get("link_clicks") or ():
            total[str(bucket["date"])] += int(bucket["clicks"])
    return [{"date": d, "clicks": total[d]} for d in sorted(total, reverse=True)]


def _rollup(metrics: list[Mapping[str, Any]], breakdowns: bool, size: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "link_count": len(metrics),
        "total_clicks": sum(int(m.get("total_clicks") or 0) for m in metrics),
        "clicks_by_date": _by_date(metrics),
    }
    if breakdowns:
        for facet in BREAKDOWNS:
            merged: Counter[str] = Counter()
            for m in metrics:
                for row in m.get(facet) or ():
                    merged[str(row["value"])] += int(row["clicks"])
            out[facet] = _rows(merged, size)
    return out


async def campaign_performance_report(
    ctx: HandlerContext, inputs: dict[str, Any]
) -> dict[str, Any]:
    guid = inputs["campaign_guid"]
    breakdowns = bool(inputs.get("include_breakdowns", True))
    size = int(inputs.get("size") or 10)
    tries = tries_for(ctx)
    campaign = await request_retried(
        ctx, "GET", "/campaigns/{campaign_guid}", tries=tries, path_params={"campaign_guid": guid}
    )
    group = campaign.get("group_guid") if isinstance(campaign, dict) else None
    if not isinstance(group, str) or not group:
        raise E.FatalError(f"Bitly's campaign {guid} names no group_guid", where=ctx.action_id)
    answer = await request_retried(
        ctx, "GET", "/channels", tries=tries, params={"campaign_guid": guid}
    )
    channels = [c for c in (answer or {}).get("channels") or [] if isinstance(c, dict)]
    members = {
        c["guid"]: await group_links(
            ctx, group, {"campaign_guid": guid, "channel_guid": c["guid"]}, tries
        )
        for c in channels
    }
    links = {str(link["id"]): link for found in members.values() for link in found}

    window = {
        k: inputs[k] for k in ("unit", "units", "unit_reference") if inputs.get(k) is not None
    }

    async def measure(bitlink: str) -> Any:
        raw = {"bitlink": bitlink, **window, "include_breakdowns": breakdowns}
        # Each of the link's requests retried on its own (a read).
        return await run_retried(ctx, "bitly.get_link_click_metrics", raw, tries)

    measured = dict(zip(links, await bounded_map(ctx, measure, links), strict=True))
    unavailable = {
        row["breakdown"]: row for m in measured.values() for row in m.get("unavailable") or ()
    }
    report_channels = []
    for channel in channels:
        ids = [str(link["id"]) for link in members[channel["guid"]]]
        rolled = _rollup([measured[i] for i in ids], breakdowns, size)
        rolled["links"] = [
            {
                "id": i,
                "long_url": links[i].get("long_url", ""),
                "title": links[i].get("title") or "",
                "total_clicks": int(measured[i].get("total_clicks") or 0),
            }
            for i in ids
        ]
        report_channels.append({"guid": channel["guid"], "name": channel.get("name", ""), **rolled})
    first = next(iter(measured.values()), {})
    out: dict[str, Any] = {
        "campaign": {"guid": guid, "name": campaign.get("name", ""), "group_guid": group},
        "period": {
            "unit": first.get("unit") or inputs.get("unit", "day"),
            "units": first.get("units", inputs.get("units")),
        },
        "channels": report_channels,
        "totals": _rollup(list(measured.values()), breakdowns, size),
    }
    if first.get("unit_reference") is not None:
        out["period"]["unit_reference"] = first["unit_reference"]
    if unavailable:
        out["unavailable"] = list(unavailable.values())
    return out
