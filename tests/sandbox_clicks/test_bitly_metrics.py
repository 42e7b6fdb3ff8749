"""Bitly metrics handlers: facets, ordering, size, group aggregation, and the spec's schemas."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.sandbox.bitly.facts import load_bitly_facts
from connector.sandbox.bitly.metrics import (
    METRIC_HANDLERS,
    clicks_by_link,
    referring_network,
    shorten_counts_response,
)

NOW = datetime(2020, 2, 5, 12, tzinfo=UTC).timestamp()
DAY = 86400.0
EXPECTED_OPERATIONS = {
    "getClicksForBitlink",
    "getClicksSummaryForBitlink",
    "getMetricsForBitlinkByCountries",
    "getMetricsForBitlinkByCities",
    "getMetricsForBitlinkByDevices",
    "getMetricsForBitlinkByReferrers",
    "getMetricsForBitlinkByReferringDomains",
    "getMetricsForBitlinkByReferrersByDomains",
    "getClicksForCustomBitlink",
    "getCustomBitlinkMetricsByDestination",
    "getGroupClicks",
    "getGroupMetricsByCountries",
    "getGroupMetricsByCities",
    "getGroupMetricsByDevices",
    "GetGroupMetricsByReferringNetworks",
}


@pytest.fixture
def traffic(conn: sqlite3.Connection, add_click: Callable[..., None]) -> sqlite3.Connection:
    """bit.ly/a: 3 US, 2 GB, 2 DE (ties broken by value), 1 FR; bit.ly/b: 2 US; one old click."""
    for country, count in (("US", 3), ("GB", 2), ("DE", 2), ("FR", 1)):
        for i in range(count):
            add_click("bit.ly/a", NOW - DAY * i - 60, country=country)
    add_click("bit.ly/b", NOW - 120, country="US", device="desktop")
    add_click("bit.ly/b", NOW - 180, country="US", device="desktop")
    add_click("bit.ly/a", NOW - 40 * DAY, country="JP")  # outside a 30-day window
    return conn


def run(conn: sqlite3.Connection, operation: str, keys: list[str], **params: Any) -> Any:
    return METRIC_HANDLERS[operation](conn, keys, {"unit": "day", "units": 30, **params}, NOW)


def test_handlers_cover_exactly_the_pinned_operations() -> None:
    assert set(METRIC_HANDLERS) == EXPECTED_OPERATIONS
    facts = load_bitly_facts()
    for operation in EXPECTED_OPERATIONS:
        assert facts.by_id(operation).method == "GET"


def test_countries_sorted_by_clicks_then_value(traffic: sqlite3.Connection) -> None:
    body = run(traffic, "getMetricsForBitlinkByCountries", ["bit.ly/a"])
    assert body["metrics"] == [
        {"value": "US", "clicks": 3},
        {"value": "DE", "clicks": 2},
        {"value": "GB", "clicks": 2},
        {"value": "FR", "clicks": 1},
    ]
    assert (body["facet"], body["unit"], body["units"]) == ("countries", "day", 30)


def test_size_keeps_the_top_entries(traffic: sqlite3.Connection) -> None:
    body = run(traffic, "getMetricsForBitlinkByCountries", ["bit.ly/a"], size="2")
    assert [m["value"] for m in body["metrics"]] == ["US", "DE"]


def test_all_time_includes_old_clicks(traffic: sqlite3.Connection) -> None:
    body = run(traffic, "getMetricsForBitlinkByCountries", ["bit.ly/a"], units=-1)
    assert {"value": "JP", "clicks": 1} in body["metrics"]
    summary = run(traffic, "getClicksSummaryForBitlink", ["bit.ly/a"], units=-1)
    assert summary["total_clicks"] == 9


def test_group_metrics_aggregate_the_given_links(traffic: sqlite3.Connection) -> None:
    body = run(traffic, "getGroupMetricsByCountries", ["bit.ly/a", "bit.ly/b"])
    assert body["metrics"][0] == {"value": "US", "clicks": 5}
    devices = run(traffic, "getGroupMetricsByDevices", ["bit.ly/a", "bit.ly/b"])
    assert {"device_type": "desktop", "clicks": 2} in devices["metrics"]
    group = run(traffic, "getGroupClicks", ["bit.ly/a", "bit.ly/b"], units=2)
    assert group["data"] == [
        {"ts": "2020-02-05T00:00:00+0000", "count": 6},
        {"ts": "2020-02-04T00:00:00+0000", "count": 3},
    ]


def test_series_sum_equals_summary_for_every_unit(demo_conn: sqlite3.Connection) -> None:
    keys = ["bit.ly/demo03", "bit.ly/demo17"]
    now = datetime(2026, 1, 15, 15, 30, tzinfo=UTC).timestamp()
    for unit, units in (("minute", 500), ("hour", 100), ("day", 45), ("week", 7), ("month", -1)):
        params = {"unit": unit, "units": units}
        series = METRIC_HANDLERS["getClicksForBitlink"](demo_conn, keys, params, now)
        summary = METRIC_HANDLERS["getClicksSummaryForBitlink"](demo_conn, keys, params, now)
        assert sum(e["clicks"] for e in series["link_clicks"]) == summary["total_clicks"]
        countries = METRIC_HANDLERS["getGroupMetricsByCountries"](
            demo_conn, keys, {**params, "size": 1000}, now
        )
        assert sum(m["clicks"] for m in countries["metrics"]) == summary["total_clicks"]
    assert summary["total_clicks"] > 0


def test_cities_split_top_others_and_unknown(
    conn: sqlite3.Connection, add_click: Callable[..., None]
) -> None:
    for city, count in (("Boston", 3), ("Austin", 2), ("Chicago", 1)):
        for _ in range(count):
            add_click("bit.ly/a", NOW - 60, city=city, region="XX", subregion="", country="US")
    add_click("bit.ly/a", NOW - 60, city="", region="", subregion="", country="ZW")
    body = run(conn, "getMetricsForBitlinkByCities", ["bit.ly/a"], size=2)
    assert body["metrics"] == [
        {"city": "Boston", "subregion": "", "region": "XX", "country": "US", "clicks": 3},
        {"city": "Austin", "subregion": "", "region": "XX", "country": "US", "clicks": 2},
    ]
    assert body["other_metrics"] == {"other_city_clicks": 1, "no_city_clicks": 1}
    assert body["facet"] == "cities"


def test_referrers_domains_and_referrers_by_domains(
    conn: sqlite3.Connection, add_click: Callable[..., None]
) -> None:
    for referrer, domain, count in (
        ("https://t.co/abc", "t.co", 2),
        ("https://t.co/xyz", "t.co", 2),
        ("https://www.google.com/", "google.com", 3),
        ("direct", "direct", 1),
    ):
        for _ in range(count):
            add_click("bit.ly/a", NOW - 60, referrer=referrer, referring_domain=domain)
    referrers = run(conn, "getMetricsForBitlinkByReferrers", ["bit.ly/a"])
    assert referrers["metrics"][0] == {"value": "https://www.google.com/", "clicks": 3}
    assert {"value": "direct", "clicks": 1} in referrers["metrics"]
    domains = run(conn, "getMetricsForBitlinkByReferringDomains", ["bit.ly/a"])
    assert [(m["value"], m["clicks"]) for m in domains["metrics"]] == [
        ("t.co", 4),
        ("google.com", 3),
        ("direct", 1),
    ]
    by_domain = run(conn, "getMetricsForBitlinkByReferrersByDomains", ["bit.ly/a"], size=2)
    assert by_domain["facet"] == "referrers_by_domains"
    assert by_domain["referrers_by_domain"] == [
        {
            "network": "t.co",
            "referrers": [
                {"key": "https://t.co/abc", "value": 2},
                {"key": "https://t.co/xyz", "value": 2},
            ],
        },
        {"network": "google.com", "referrers": [{"key": "https://www.google.com/", "value": 3}]},
    ]
    networks = run(conn, "GetGroupMetricsByReferringNetworks", ["bit.ly/a"])
    assert networks["metrics"] == [
        {"value": "twitter", "clicks": 4},
        {"value": "google", "clicks": 3},
        {"value": "direct", "clicks": 1},
    ]


@pytest.mark.parametrize(
    ("domain", "network"),
    [
        ("direct", "direct"),
        ("t.co", "twitter"),
        ("m.facebook.com", "facebook"),
        ("lnkd.in", "linkedin"),
        ("example.org", "other"),
        ("notfacebook.com", "other"),
    ],
)
def test_referring_network_table(domain: str, network: str) -> None:
    assert referring_network(domain) == network


def test_clicks_by_destination_lists_every_destination(traffic: sqlite3.Connection) -> None:
    body = run(
        traffic, "getCustomBitlinkMetricsByDestination", ["bit.ly/b", "bit.ly/a", "bit.ly/c"]
    )
    assert body["metrics"] == [
        {"value": "bit.ly/a", "clicks": 8},
        {"value": "bit.ly/b", "clicks": 2},
        {"value": "bit.ly/c", "clicks": 0},
    ]


def test_clicks_by_link_includes_links_without_clicks(traffic: sqlite3.Connection) -> None:
    counts = clicks_by_link(traffic, ["bit.ly/a", "bit.ly/b", "bit.ly/none"], {}, NOW)
    assert counts == {"bit.ly/a": 9, "bit.ly/b": 2, "bit.ly/none": 0}
    recent = clicks_by_link(traffic, ["bit.ly/a"], {"unit": "day", "units": "1"}, NOW)
    assert recent == {"bit.ly/a": 4}


def test_shorten_counts_buckets_creation_times() -> None:
    created = [NOW - 10, NOW - 20, NOW - 2 * DAY, NOW - 400 * DAY]
    body = shorten_counts_response(created, {"unit": "day", "units": 3}, NOW)
    assert body["metrics"] == [
        {"key": "2020-02-05T00:00:00+0000", "value": 2},
        {"key": "2020-02-04T00:00:00+0000", "value": 0},
        {"key": "2020-02-03T00:00:00+0000", "value": 1},
    ]
    assert body["facet"] == "shorten_counts"
    all_time = shorten_counts_response(created, {"unit": "month", "units": -1}, NOW)
    assert sum(m["value"] for m in all_time["metrics"]) == 4
    assert all_time["metrics"][-1]["key"] == "2019-01-01T00:00:00+0000"
    assert shorten_counts_response([], {}, NOW)["metrics"] == [
        {"key": "2020-02-05T00:00:00+0000", "value": 0}
    ]


@pytest.mark.parametrize("operation", sorted(EXPECTED_OPERATIONS))
def test_every_handler_body_validates_against_its_schema(
    demo_conn: sqlite3.Connection, demo_now: float, operation: str
) -> None:
    keys = ["bit.ly/demo00", "bit.ly/demo05", "bit.ly/demo20"]
    params = {"unit": "week", "units": "8", "size": "5", "unit_reference": None}
    body = METRIC_HANDLERS[operation](demo_conn, keys, params, demo_now)
    assert load_bitly_facts().by_id(operation).response_errors(200, body) == []
    assert _counted(body) > 0  # not vacuous: the body reports the demo clicks


def _counted(value: Any) -> int:
    """Sum of every click count anywhere in a metrics body."""
    if isinstance(value, list):
        return sum(_counted(item) for item in value)
    if not isinstance(value, dict):
        return 0
    return sum(
        v
        if k in ("clicks", "count", "total_clicks") or (k == "value" and "key" in value)
        else _counted(v)
        for k, v in value.items()
        if isinstance(v, int | list | dict)
    )


@pytest.mark.parametrize("operation", ["getGroupShortenCounts", "getOrganizationShortenCounts"])
def test_shorten_counts_validate_against_their_schema(operation: str) -> None:
    body = shorten_counts_response([NOW - 5, NOW - 3 * DAY], {"unit": "day", "units": 7}, NOW)
    assert load_bitly_facts().by_id(operation).response_errors(200, body) == []


def test_metric_queries_use_the_link_time_index(demo_conn: sqlite3.Connection) -> None:
    statements: list[str] = []
    demo_conn.set_trace_callback(statements.append)
    try:
        for handler in METRIC_HANDLERS.values():
            handler(demo_conn, ["bit.ly/demo01"], {"units": -1}, 1.7e9)
    finally:
        demo_conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    for sql in selects:
        plan = str(demo_conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
        assert "clicks_link_ts" in plan, sql
