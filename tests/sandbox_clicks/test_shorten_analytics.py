"""shorten.dev analytics from recorded clicks: the documented shape, zero-fill, tops, periods."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from connector.sandbox.clicks import click_from_request, insert_clicks
from connector.sandbox.shorten_dev.analytics import shorten_analytics

NOW = datetime(2026, 1, 18, 9, 30, tzinfo=UTC).timestamp()
DAY = 86400.0


def test_shape_matches_the_documented_response(
    conn: sqlite3.Connection, add_click: Callable[..., None]
) -> None:
    add_click("x7kQ2m", NOW - 60)
    body = shorten_analytics(conn, "x7kQ2m", "30d", NOW)
    assert list(body) == [
        "slug",
        "period",
        "total_clicks",
        "unique_visitors",
        "time_series",
        "top_referrers",
        "top_countries",
        "top_devices",
        "top_browsers",
    ]
    assert (body["slug"], body["period"], body["total_clicks"]) == ("x7kQ2m", "30d", 1)
    assert body["top_referrers"] == [{"referrer": "direct", "count": 1}]
    assert body["top_countries"] == [{"country": "US", "count": 1}]
    assert body["top_devices"] == [{"device": "other", "count": 1}]
    assert body["top_browsers"] == [{"browser": "Other", "count": 1}]


@pytest.mark.parametrize(("period", "days"), [("7d", 7), ("30d", 30), ("90d", 90)])
def test_time_series_is_zero_filled_daily_ending_today(
    conn: sqlite3.Connection, add_click: Callable[..., None], period: str, days: int
) -> None:
    add_click("s", NOW - 60)  # today
    add_click("s", NOW - 2 * DAY)  # 2026-01-16
    add_click("s", NOW - 2 * DAY)
    add_click("s", NOW - (days + 1) * DAY)  # before the period
    add_click("other", NOW - 60)
    body = shorten_analytics(conn, "s", period, NOW)
    series = body["time_series"]
    assert len(series) == days
    assert series[-1] == {"date": "2026-01-18", "clicks": 1}
    assert series[-3] == {"date": "2026-01-16", "clicks": 2}
    assert sum(entry["clicks"] for entry in series) == body["total_clicks"] == 3
    assert [e["date"] for e in series] == sorted(e["date"] for e in series)
    assert len({e["date"] for e in series}) == days


def test_unique_visitors_count_distinct_ip_hashes(conn: sqlite3.Connection) -> None:
    clicks = [
        click_from_request("s", {}, ip, NOW - 100)
        for ip in ("192.0.2.1", "192.0.2.1", "192.0.2.2", None)
    ]
    insert_clicks(conn, clicks)
    body = shorten_analytics(conn, "s", "7d", NOW)
    assert (body["total_clicks"], body["unique_visitors"]) == (4, 3)


def test_tops_are_sorted_and_at_most_ten(conn: sqlite3.Connection) -> None:
    clicks = []
    for i in range(12):
        for _ in range(i + 1):
            headers = {"X-Country": "US", "Referer": f"https://site{i:02d}.example/page"}
            clicks.append(click_from_request("s", headers, "192.0.2.9", NOW - 100))
    insert_clicks(conn, clicks)
    referrers = shorten_analytics(conn, "s", "7d", NOW)["top_referrers"]
    assert len(referrers) == 10
    assert referrers[0] == {"referrer": "site11.example", "count": 12}
    assert [r["count"] for r in referrers] == sorted((r["count"] for r in referrers), reverse=True)


def test_empty_link_has_zeroes(conn: sqlite3.Connection) -> None:
    body = shorten_analytics(conn, "nothing", "7d", NOW)
    assert (body["total_clicks"], body["unique_visitors"]) == (0, 0)
    assert [e["clicks"] for e in body["time_series"]] == [0] * 7
    assert body["top_referrers"] == body["top_countries"] == []


@pytest.mark.parametrize("period", ["1d", "7D", "", "30", "365d", "7d "])
def test_unknown_period_is_a_value_error_naming_period(
    conn: sqlite3.Connection, period: str
) -> None:
    with pytest.raises(ValueError, match="period"):
        shorten_analytics(conn, "s", period, NOW)


def test_demo_clicks_give_realistic_analytics(
    demo_conn: sqlite3.Connection, demo_now: float
) -> None:
    body = shorten_analytics(demo_conn, "bit.ly/demo00", "90d", demo_now)
    assert body["total_clicks"] > 0
    assert 0 < body["unique_visitors"] <= body["total_clicks"]
    assert {d["device"] for d in body["top_devices"]} <= {"mobile", "desktop", "tablet"}
