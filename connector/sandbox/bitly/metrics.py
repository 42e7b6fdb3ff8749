"""Bitly metrics endpoints computed from recorded clicks.

Every handler takes (conn, link_keys, params, now): the sqlite connection holding the `clicks`
table, the links whose clicks count (one for a bitlink, all of a group's for group metrics),
the query parameters (unit, units, unit_reference, size; strings or ints) and the current epoch
time. It returns the 200 body of its operation, valid against Bitly's response schema, or
raises MetricParamError naming the bad parameter.

For units=-1 the window starts at the first recorded click; a caller that knows an earlier
start (the link's creation time) passes it as `params[SINCE_PARAM]` (epoch seconds).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connector.sandbox.bitly.metric_windows import (
    MetricParamError,
    Window,
    bucket_index,
    clicks_per_bucket,
    first_click_ts,
    link_keys_clause,
    parse_size,
    parse_window,
)
from connector.sandbox.clicks import DIRECT

__all__ = [
    "METRIC_HANDLERS",
    "SINCE_PARAM",
    "MetricHandler",
    "MetricParamError",
    "clicks_by_link",
    "referring_network",
    "shorten_counts_response",
]

MetricHandler = Callable[[sqlite3.Connection, list[str], dict[str, Any], float], dict[str, Any]]

#: Optional params key: epoch seconds where units=-1 starts at the latest (the link's creation).
SINCE_PARAM = "_since"

# Referring domains folded into the networks Bitly's group "referring_networks" reports.
_NETWORKS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("t.co", "twitter.com", "x.com"), "twitter"),
    (("facebook.com", "fb.com", "fb.me"), "facebook"),
    (("linkedin.com", "lnkd.in"), "linkedin"),
    (("instagram.com",), "instagram"),
    (("reddit.com",), "reddit"),
    (("youtube.com", "youtu.be"), "youtube"),
    (("google.com", "google.co.uk", "google.de", "news.google.com"), "google"),
    (("bing.com",), "bing"),
    (("duckduckgo.com",), "duckduckgo"),
)


def referring_network(domain: str) -> str:
    """Network a referring domain belongs to: `direct`, a known network, else `other`."""
    if domain == DIRECT:
        return DIRECT
    for domains, network in _NETWORKS:
        if any(domain == d or domain.endswith("." + d) for d in domains):
            return network
    return "other"


def _window(
    conn: sqlite3.Connection, link_keys: Sequence[str], params: Mapping[str, Any], now: float
) -> Window:
    window = parse_window(params, now)
    if window.units != -1:
        return window
    starts = [t for t in (first_click_ts(conn, link_keys), _since(params)) if t is not None]
    return parse_window(params, now, first_event=min(starts) if starts else None)


def _since(params: Mapping[str, Any]) -> float | None:
    value = params.get(SINCE_PARAM)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _grouped(
    conn: sqlite3.Connection,
    link_keys: Sequence[str],
    window: Window,
    columns: Sequence[str],
    *,
    limit: int | None = None,
    where: str = "",
) -> list[tuple[Any, ...]]:
    """(*columns, clicks) for the window, most clicks first, ties by the columns' values."""
    clause, args = link_keys_clause(link_keys)
    cols = ", ".join(columns)
    sql = (
        f"SELECT {cols}, COUNT(*) AS n FROM clicks WHERE {clause} AND ts >= ? AND ts < ?{where}"
        f" GROUP BY {cols} ORDER BY n DESC, {cols}"
    )
    bound: tuple[Any, ...] = (*args, window.start, window.end)
    if limit is not None:
        sql += " LIMIT ?"
        bound = (*bound, limit)
    return conn.execute(sql, bound).fetchall()


def _count(conn: sqlite3.Connection, link_keys: Sequence[str], window: Window) -> int:
    clause, args = link_keys_clause(link_keys)
    row = conn.execute(
        f"SELECT COUNT(*) FROM clicks WHERE {clause} AND ts >= ? AND ts < ?",
        (*args, window.start, window.end),
    ).fetchone()
    return int(row[0])


def link_clicks(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """getClicksForBitlink / getClicksForCustomBitlink: a zero-filled series, newest first."""
    window = _window(conn, link_keys, params, now)
    series = clicks_per_bucket(conn, link_keys, window)
    return {
        "link_clicks": [{"date": date, "clicks": clicks} for date, clicks in series],
        **window.echo(),
    }


def clicks_summary(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """getClicksSummaryForBitlink: the sum of the same buckets /clicks lists."""
    window = _window(conn, link_keys, params, now)
    return {"total_clicks": _count(conn, link_keys, window), **window.echo()}


def group_clicks(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """getGroupClicks: the group's series, as the spec's `data: [{ts, count}]`."""
    window = _window(conn, link_keys, params, now)
    series = clicks_per_bucket(conn, link_keys, window)
    return {"data": [{"ts": date, "count": clicks} for date, clicks in series], **window.echo()}


def _value_facet(column: str, facet: str | None) -> MetricHandler:
    """A handler reporting `[{value, clicks}]` of one clicks column."""

    def handler(
        conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
    ) -> dict[str, Any]:
        window = _window(conn, link_keys, params, now)
        rows = _grouped(conn, link_keys, window, [column], limit=parse_size(params))
        body: dict[str, Any] = {
            "metrics": [{"value": value, "clicks": clicks} for value, clicks in rows],
            **window.echo(),
        }
        if facet is not None:
            body["facet"] = facet
        return body

    handler.__name__ = f"{facet or column}_metrics"
    return handler


def devices(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """Devices facet: `[{device_type, clicks}]` (mobile, desktop, tablet, other)."""
    window = _window(conn, link_keys, params, now)
    rows = _grouped(conn, link_keys, window, ["device"], limit=parse_size(params))
    return {
        "metrics": [{"device_type": device, "clicks": clicks} for device, clicks in rows],
        "facet": "devices",
        **window.echo(),
    }


def cities(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """Cities facet: the top `size` cities, the rest in other_metrics.other_city_clicks, and
    clicks without a known city in other_metrics.no_city_clicks."""
    window = _window(conn, link_keys, params, now)
    size = parse_size(params)
    rows = _grouped(conn, link_keys, window, ["city", "subregion", "region", "country"])
    with_city = [row for row in rows if row[0]]
    top = with_city[:size]
    return {
        "metrics": [
            {"city": city, "subregion": sub, "region": region, "country": country, "clicks": n}
            for city, sub, region, country, n in top
        ],
        "other_metrics": {
            "other_city_clicks": sum(row[4] for row in with_city[size:]),
            "no_city_clicks": sum(row[4] for row in rows if not row[0]),
        },
        "facet": "cities",
        **window.echo(),
    }


def referrers_by_domains(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """Referrers grouped by referring domain, busiest domain first, top `size` of each.

    The entries follow the spec's schema, `{key: referrer, value: clicks}` (real traffic has
    also been seen answering `{value: referrer, clicks}`; clients must read both).
    """
    window = _window(conn, link_keys, params, now)
    size = parse_size(params)
    rows = _grouped(conn, link_keys, window, ["referring_domain", "referrer"])
    by_domain: dict[str, list[tuple[str, int]]] = {}
    for domain, referrer, clicks in rows:
        by_domain.setdefault(domain, []).append((referrer, clicks))
    ranked = sorted(by_domain.items(), key=lambda item: (-sum(n for _, n in item[1]), item[0]))
    return {
        "referrers_by_domain": [
            {
                "network": domain,
                "referrers": [{"key": referrer, "value": n} for referrer, n in referrers[:size]],
            }
            for domain, referrers in ranked[:size]
        ],
        "facet": "referrers_by_domains",
        **window.echo(),
    }


def referring_networks(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """GetGroupMetricsByReferringNetworks: referring domains folded into networks."""
    window = _window(conn, link_keys, params, now)
    totals: dict[str, int] = {}
    for domain, clicks in _grouped(conn, link_keys, window, ["referring_domain"]):
        network = referring_network(domain)
        totals[network] = totals.get(network, 0) + clicks
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return {
        "metrics": [{"value": network, "clicks": n} for network, n in ranked[: parse_size(params)]],
        "facet": "referring_networks",
        **window.echo(),
    }


def clicks_by_destination(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """getCustomBitlinkMetricsByDestination: `link_keys` are the bitlinks the custom bitlink
    has pointed to; each is reported (zero included) with its clicks in the window."""
    window = _window(conn, link_keys, params, now)
    counts = dict(_grouped(conn, link_keys, window, ["link_key"]))
    ranked = sorted(
        ((key, counts.get(key, 0)) for key in dict.fromkeys(link_keys)), key=lambda i: (-i[1], i[0])
    )
    # The spec's facet enum has no "destination"; the key is optional, so it is left out.
    return {"metrics": [{"value": key, "clicks": n} for key, n in ranked], **window.echo()}


def clicks_by_link(
    conn: sqlite3.Connection, link_keys: list[str], params: dict[str, Any], now: float
) -> dict[str, int]:
    """Clicks per link in the window (every link present, zero included): getSortedBitlinks."""
    window = _window(conn, link_keys, params, now)
    counts = dict(_grouped(conn, link_keys, window, ["link_key"]))
    return {key: int(counts.get(key, 0)) for key in link_keys}


def shorten_counts_response(
    created_ts: list[float], params: dict[str, Any], now: float
) -> dict[str, Any]:
    """getGroupShortenCounts / getOrganizationShortenCounts: links created per bucket, newest
    first, zero-filled, as the spec's `metrics: [{key: date, value: count}]`."""
    window = parse_window(params, now, first_event=min(created_ts) if created_ts else None)
    counts: dict[int, int] = {}
    for ts in created_ts:
        if window.start <= ts < window.end:
            index = bucket_index(window.unit, ts)
            counts[index] = counts.get(index, 0) + 1
    return {
        "metrics": [{"key": date, "value": counts.get(i, 0)} for i, date in window.newest_first()],
        "facet": "shorten_counts",
        **window.echo(),
    }


METRIC_HANDLERS: dict[str, MetricHandler] = {
    "getClicksForBitlink": link_clicks,
    "getClicksForCustomBitlink": link_clicks,
    "getClicksSummaryForBitlink": clicks_summary,
    "getMetricsForBitlinkByCountries": _value_facet("country", "countries"),
    "getMetricsForBitlinkByCities": cities,
    "getMetricsForBitlinkByDevices": devices,
    "getMetricsForBitlinkByReferrers": _value_facet("referrer", "referrers"),
    "getMetricsForBitlinkByReferringDomains": _value_facet("referring_domain", "referring_domains"),
    "getMetricsForBitlinkByReferrersByDomains": referrers_by_domains,
    "getCustomBitlinkMetricsByDestination": clicks_by_destination,
    "getGroupClicks": group_clicks,
    "getGroupMetricsByCountries": _value_facet("country", "countries"),
    "getGroupMetricsByCities": cities,
    "getGroupMetricsByDevices": devices,
    "GetGroupMetricsByReferringNetworks": referring_networks,
}
