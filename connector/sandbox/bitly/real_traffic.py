"""Where Bitly's real answers differ from its API description, the sandbox answers both ways.

GET /bitlinks/{bitlink}/referrers_by_domains has been seen in real traffic answering
- its entries as `{value: referrer, clicks: n}` where the description says `{key, value}`;
- `unit_reference` as an integer epoch instead of `...+0000` text;
- an echoed `units` that is not the one asked (the buckets the window really spans).

Which form an answer takes is drawn from the sandbox's seed and the link, so one seed always
answers one link the same way and the demo links show both forms: a client has to read both.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

__all__ = ["QUIRKY_OPERATIONS", "as_described", "real_traffic_form"]

#: operations whose answers may take the real-traffic form
QUIRKY_OPERATIONS = frozenset({"getMetricsForBitlinkByReferrersByDomains"})


def real_traffic_form(body: dict[str, Any], salt: str, link_keys: list[str]) -> dict[str, Any]:
    """`body` as the description has it, or (drawn from the seed) as real traffic had it."""
    rng = random.Random(f"{salt}:real-traffic:{','.join(link_keys)}")
    if rng.random() < 0.5:
        return body
    out = dict(body)
    out["referrers_by_domain"] = [
        {
            **entry,
            "referrers": [{"value": r["key"], "clicks": r["value"]} for r in entry["referrers"]],
        }
        for entry in body.get("referrers_by_domain", [])
    ]
    reference = body.get("unit_reference")
    if isinstance(reference, str):
        out["unit_reference"] = int(datetime.strptime(reference, "%Y-%m-%dT%H:%M:%S%z").timestamp())
    units = body.get("units")
    if isinstance(units, int) and units > 0:
        out["units"] = units + 1  # the bucket the reference time falls in, counted too
    return out


def as_described(operation_id: str, body: Any) -> Any:
    """A real-traffic answer put back into the described form (what checks against the API
    description read); any other answer unchanged."""
    if operation_id not in QUIRKY_OPERATIONS or not isinstance(body, dict):
        return body
    out = dict(body)
    if isinstance(out.get("unit_reference"), int):
        moment = datetime.fromtimestamp(out["unit_reference"], UTC)
        out["unit_reference"] = moment.strftime("%Y-%m-%dT%H:%M:%S+0000")
    out["referrers_by_domain"] = [
        {**entry, "referrers": [_described(r) for r in entry.get("referrers", [])]}
        for entry in out.get("referrers_by_domain", [])
        if isinstance(entry, dict)
    ]
    return out


def _described(row: Any) -> Any:
    if isinstance(row, dict) and "clicks" in row:
        return {"key": row.get("value"), "value": row["clicks"]}
    return row
