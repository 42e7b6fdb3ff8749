"""shorten.dev link analytics (`GET /api/v1/links/:slug/analytics`) computed from clicks.

A period of N days is the N calendar days (UTC) ending today, so `time_series` has exactly N
zero-filled entries and `total_clicks` is their sum. The real service aggregates with about an
hour's delay; the sandbox counts a click as soon as it is recorded.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

__all__ = ["PERIODS", "TOP_N", "shorten_analytics"]

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
#: Length of each top_* list.
TOP_N = 10
_DAY = 86400
# response key -> (clicks column, entry key); referrers are reported by domain ("google.com").
_TOPS = {
    "top_referrers": ("referring_domain", "referrer"),
    "top_countries": ("country", "country"),
    "top_devices": ("device", "device"),
    "top_browsers": ("browser", "browser"),
}


def shorten_analytics(
    conn: sqlite3.Connection, link_key: str, period: str, now: float
) -> dict[str, Any]:
    """The analytics body for `link_key` over `period` (7d | 30d | 90d; else ValueError)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    days = PERIODS[period]
    today = int(now // _DAY)
    first_day = today - days + 1
    bounds = (link_key, float(first_day * _DAY), float((today + 1) * _DAY))
    where = "link_key = ? AND ts >= ? AND ts < ?"

    total, unique = conn.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT ip_hash) FROM clicks WHERE {where}", bounds
    ).fetchone()
    per_day = dict(
        conn.execute(
            f"SELECT CAST(ts / {_DAY} AS INTEGER) AS day, COUNT(*) FROM clicks WHERE {where}"
            " GROUP BY day",
            bounds,
        ).fetchall()
    )
    body: dict[str, Any] = {
        "slug": link_key,
        "period": period,
        "total_clicks": int(total),
        "unique_visitors": int(unique),
        "time_series": [
            {
                "date": datetime.fromtimestamp(day * _DAY, UTC).strftime("%Y-%m-%d"),
                "clicks": per_day.get(day, 0),
            }
            for day in range(first_day, today + 1)
        ],
    }
    for key, (column, entry_key) in _TOPS.items():
        rows = conn.execute(
            f"SELECT {column} AS value, COUNT(*) AS n FROM clicks WHERE {where}"
            " GROUP BY value ORDER BY n DESC, value LIMIT ?",
            (*bounds, TOP_N),
        ).fetchall()
        body[key] = [{entry_key: value, "count": n} for value, n in rows]
    return body
