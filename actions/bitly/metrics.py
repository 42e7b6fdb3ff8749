"""bitly.get_link_click_metrics: clicks per bucket, their total, and optional breakdowns.

Output:
    {"bitlink": "bit.ly/abc1234", "unit": "day", "units": 7,
     "unit_reference": "2026-04-11T00:00:00Z",
     "link_clicks": [{"date": "2026-04-11T00:00:00Z", "clicks": 42}, ...],   # newest first
     "total_clicks": 80,
     # only with include_breakdowns:
     "countries": [{"value": "US", "clicks": 50}], "devices": [{"value": "mobile", "clicks": 30}],
     "referrers": [{"value": "direct", "clicks": 20}],
     # only when the plan refuses a breakdown (402; devices needs a paid plan):
     "unavailable": [{"breakdown": "devices", "reason": "UPGRADE_REQUIRED: ..."}]}

Bitly's metrics are lenient about their own formats (offsets written `+0000`, an integer
epoch for `unit_reference`, an echoed `units` that differs from the request), so every
timestamp is normalised to RFC 3339 UTC (`...Z`) when it can be read, and kept as given
when it cannot: a report never fails over a timestamp.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from connector import errors as E
from connector.runner import HandlerContext

__all__ = ["count", "get_link_click_metrics", "normalize_timestamp"]

_BREAKDOWNS = (("countries", "value"), ("devices", "device_type"), ("referrers", "value"))
_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def normalize_timestamp(value: Any) -> Any:
    """`2020-02-03T12:06:17+0000` or an epoch -> `2020-02-03T12:06:17Z`; else unchanged."""
    if isinstance(value, bool) or value is None:
        return value
    when: datetime | None = None
    if isinstance(value, int | float):
        try:
            when = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return value
    elif isinstance(value, str):
        return _normalize_text(value)
    else:
        return value
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# A loop over many links reads the same bucket dates again and again.
@lru_cache(maxsize=4096)
def _normalize_text(value: str) -> str:
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        result = normalize_timestamp(float(text))
        return result if isinstance(result, str) else value
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = _OFFSET_NO_COLON.sub(r"\1:\2", text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def count(value: Any) -> int:
    """A click count as an integer; Bitly sends integers, but a string must not crash a run."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def _bucket(row: dict[str, Any]) -> dict[str, Any]:
    # Runs for every bucket of every link of a loop: the usual types take the short way.
    date, clicks = row.get("date"), row.get("clicks")
    return {
        "date": _normalize_text(date) if type(date) is str else normalize_timestamp(date),
        "clicks": clicks if type(clicks) is int else count(clicks),
    }


def _units(echoed: Any, requested: Any) -> Any:
    for candidate in (echoed, requested):
        try:
            return int(candidate)
        except (TypeError, ValueError):
            continue
    return None


def _metric_rows(body: Any, value_key: str) -> list[dict[str, Any]]:
    rows = body.get("metrics") if isinstance(body, dict) else None
    out: list[dict[str, Any]] = []
    for row in rows or []:
        if isinstance(row, dict):
            value = row.get(value_key, row.get("value"))
            out.append(
                {"value": "" if value is None else str(value), "clicks": count(row.get("clicks"))}
            )
    return out


async def get_link_click_metrics(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    bitlink = inputs["bitlink"]
    params: dict[str, Any] = {
        "unit": inputs.get("unit", "day"),
        "units": inputs.get("units", -1),
    }
    if inputs.get("unit_reference"):
        params["unit_reference"] = inputs["unit_reference"]
    path_params = {"bitlink": bitlink}
    body = await ctx.request(
        "GET", "/bitlinks/{bitlink}/clicks", params=params, path_params=path_params
    )
    body = body if isinstance(body, dict) else {}
    buckets = [_bucket(row) for row in body.get("link_clicks") or [] if isinstance(row, dict)]
    out: dict[str, Any] = {
        "bitlink": bitlink,
        "unit": body.get("unit") or params["unit"],
        "units": _units(body.get("units"), params["units"]),
        "link_clicks": buckets,
        "total_clicks": sum(b["clicks"] for b in buckets),
    }
    reference = normalize_timestamp(body.get("unit_reference"))
    if reference is not None:
        out["unit_reference"] = reference
    if inputs.get("include_breakdowns"):
        facet_params = dict(params)
        if inputs.get("size") is not None:
            facet_params["size"] = inputs["size"]
        # One after the other: the rate budget paces them, and a failure stops the rest,
        # except a plan that lacks one breakdown: waiting or retrying cannot change that, and
        # the others are still worth having, so it is named in `unavailable` instead.
        unavailable: list[dict[str, str]] = []
        for facet, value_key in _BREAKDOWNS:
            try:
                metrics = await ctx.request(
                    "GET",
                    f"/bitlinks/{{bitlink}}/{facet}",
                    params=facet_params,
                    path_params=path_params,
                )
            except E.UpgradeRequired as exc:
                reason = exc.code or "UPGRADE_REQUIRED"
                unavailable.append(
                    {"breakdown": facet, "reason": f"{reason}: needs a paid Bitly plan"}
                )
                continue
            out[facet] = _metric_rows(metrics, value_key)
        if unavailable:
            out["unavailable"] = unavailable
    return out
