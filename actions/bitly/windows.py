"""Every Bitly metrics action with one request: the window's query, then both forms read.

One handler serves every such action (`handler: .windows:window_metrics` with the one
operation it calls in `operations:`): the path and the query parameters come from the vendor
facts of that operation, so a manifest holds no path a second time.

Real traffic differs from the description (see the sandbox's quirks), and both forms come back
the same way here:
- `unit_reference` as an integer epoch or `...+0000` text -> RFC 3339 UTC (`...Z`);
- `units` echoed as a string or a number other than the one asked -> the integer echoed, the
  requested one kept in `units_requested` when they differ;
- entries of `referrers_by_domain` as `{key, value}` (the description) or `{value, clicks}`
  (real traffic) -> `{value: referrer, clicks: n}`;
- bucket dates (`link_clicks[].date`, `data[].ts`, shorten counts' `metrics[].key`) normalised
  like `unit_reference`.
"""

from __future__ import annotations

from typing import Any

from connector import errors as E
from connector.runner import HandlerContext
from connector.vendor import load_vendor_facts

from .metrics import count, normalize_timestamp

__all__ = ["normalize_window_body", "window_metrics"]

#: query parameters of a metrics window; others (a path's `sort`) come from the path
_WINDOW = ("unit", "units", "unit_reference", "size")


async def window_metrics(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    action = ctx.action
    facts = load_vendor_facts(action.app)
    if facts is None or len(action.operations) != 1:
        raise E.InvalidConfiguration(
            "a window metrics action declares exactly one operation of its app's API facts",
            where=ctx.action_id,
        )
    operation = facts.by_id(action.operations[0])
    declared = set(operation.query_params) | set(_WINDOW)
    params = {k: v for k, v in inputs.items() if k in declared and k not in operation.path_params}
    body = await ctx.request(
        operation.method,
        operation.path,
        params=params,
        path_params={k: inputs[k] for k in operation.path_params},
    )
    return normalize_window_body(body, params.get("units"))


def normalize_window_body(body: Any, requested_units: Any = None) -> dict[str, Any]:
    """A metrics answer in one form, whichever form it came in."""
    out: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
    if "unit_reference" in out:
        out["unit_reference"] = normalize_timestamp(out["unit_reference"])
    if "units" in out:
        echoed = _integer(out["units"])
        wanted = _integer(requested_units)
        out["units"] = echoed if echoed is not None else wanted
        if wanted is not None and echoed is not None and wanted != echoed:
            out["units_requested"] = wanted
    if isinstance(out.get("link_clicks"), list):
        out["link_clicks"] = [_dated(r, "date", "clicks") for r in out["link_clicks"]]
    if isinstance(out.get("data"), list):
        out["data"] = [_dated(r, "ts", "count") for r in out["data"]]
    if out.get("facet") == "shorten_counts" and isinstance(out.get("metrics"), list):
        out["metrics"] = [_dated(r, "key", "value") for r in out["metrics"]]
    if isinstance(out.get("referrers_by_domain"), list):
        out["referrers_by_domain"] = [_network(n) for n in out["referrers_by_domain"]]
    return out


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _dated(row: Any, date_key: str, count_key: str) -> Any:
    if not isinstance(row, dict):
        return row
    return {
        **row,
        date_key: normalize_timestamp(row.get(date_key)),
        count_key: count(row.get(count_key)),
    }


def _network(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    referrers = entry.get("referrers")
    rows = (
        [_referrer(r) for r in referrers if isinstance(r, dict)]
        if isinstance(referrers, list)
        else []
    )
    return {**entry, "referrers": rows}


def _referrer(row: dict[str, Any]) -> dict[str, Any]:
    # The description's {key: referrer, value: clicks}; real traffic's {value: referrer, clicks}.
    if "clicks" in row:
        value, clicks = row.get("value"), row.get("clicks")
    else:
        value, clicks = row.get("key"), row.get("value")
    return {"value": "" if value is None else str(value), "clicks": count(clicks)}
