"""Plan limits (monthly, per organization) and platform limits (hourly, per endpoint)."""

from __future__ import annotations

import time
from typing import Any

from connector.sandbox.bitly.account import require_org
from connector.sandbox.bitly.facts import load_bitly_facts
from connector.sandbox.bitly.registry import Call, Reply, handles
from connector.sandbox.controls import Limits

__all__ = ["DEFAULT_HOURLY_LIMITS", "basic_account_limits", "hourly_limit"]

#: Bitly's documented hourly figures for a basic account where the sandbox sets none
DEFAULT_HOURLY_LIMITS = {"POST /v4/shorten": 1000, "POST /v4/bitlinks": 500}
DEFAULT_HOURLY = 1000


def basic_account_limits() -> Limits:
    """The limits a basic account has, enforced as platform_limits reports them: per
    endpoint an hourly figure, and a minute at one tenth of it."""
    return Limits(
        per_minute=DEFAULT_HOURLY // 10,
        per_hour=DEFAULT_HOURLY,
        per_endpoint={key: (hour // 10, hour) for key, hour in DEFAULT_HOURLY_LIMITS.items()},
    )


PLAN_LIMITS = {"encodes": 1500, "custom_bitlinks": 500, "qr_codes": 500}


def hourly_limit(call: Call, key: str) -> int:
    limits = call.controls.limits
    if key in limits.per_endpoint and limits.per_endpoint[key][1] is not None:
        return int(limits.per_endpoint[key][1] or 0)
    if limits.per_hour is not None:
        return limits.per_hour
    return DEFAULT_HOURLY_LIMITS.get(key, DEFAULT_HOURLY)


def _month_start(now: float) -> float:
    t = time.gmtime(now)
    return float(time.mktime((t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, 0)) - time.timezone)


@handles("getPlanLimits")
def plan_limits(call: Call) -> Reply:
    org = call.path["organization_guid"]
    require_org(org)
    since = _month_start(call.now)
    counts = {
        "encodes": "SELECT COUNT(*) FROM links WHERE created_ts >= ?",
        "custom_bitlinks": "SELECT COUNT(*) FROM custom_bitlinks WHERE created_ts >= ?",
        "qr_codes": "SELECT COUNT(*) FROM qr_codes WHERE created >= ?",
    }
    limits: list[dict[str, Any]] = [
        {
            "name": name,
            "description": f"{name.replace('_', ' ')} this calendar month",
            "count": int(call.conn.execute(sql, (since,)).fetchone()[0]),
            "limit": PLAN_LIMITS[name],
        }
        for name, sql in counts.items()
    ]
    quota = call.controls.limits.monthly_quota
    if quota is not None:
        limits.append(
            {
                "name": "api_calls",
                "description": "API calls this calendar month",
                "count": sum(call.counts.values()),
                "limit": quota,
            }
        )
    return None, {
        "organization_guid": org,
        "plan_limits": limits,
        "references": {"organization": call.api_url(f"/organizations/{org}")},
    }


@handles("getPlatformLimits")
def platform_limits(call: Call) -> Reply:
    wanted = call.query.get("path")
    if wanted is not None and not wanted.startswith("/v4"):
        wanted = "/v4" + ("" if wanted.startswith("/") else "/") + wanted
    by_path: dict[str, list[dict[str, Any]]] = {}
    for op in load_bitly_facts().operations:
        path = "/v4" + op.path
        if wanted is not None and path != wanted:
            continue
        key = f"{op.method} {path}"
        # counted in the current hour window, the one the limit applies to
        used = call.used_this_hour(key) if call.used_this_hour else call.counts.get(key, 0)
        by_path.setdefault(path, []).append(
            {"name": op.method, "limit": hourly_limit(call, key), "count": used}
        )
    return None, {
        "platform_limits": [
            {"endpoint": path, "methods": methods} for path, methods in sorted(by_path.items())
        ]
    }
