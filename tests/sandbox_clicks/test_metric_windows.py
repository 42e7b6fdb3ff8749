"""Bitly metric windows: parameters, bucket alignment per unit, units=-1, boundaries."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.sandbox.bitly.metric_windows import (
    MAX_UNITS,
    bitly_date,
    bucket_index,
    bucket_start,
    parse_size,
    parse_unit_reference,
    parse_window,
)
from connector.sandbox.bitly.metrics import METRIC_HANDLERS, SINCE_PARAM, MetricParamError

CLICKS = METRIC_HANDLERS["getClicksForBitlink"]
SUMMARY = METRIC_HANDLERS["getClicksSummaryForBitlink"]


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[arg-type]


#: Wednesday 2020-02-05 12:06:17 UTC
REFERENCE = utc(2020, 2, 5, 12, 6, 17)


@pytest.mark.parametrize(
    ("unit", "dates"),
    [
        ("minute", ["2020-02-05T12:06:00", "2020-02-05T12:05:00", "2020-02-05T12:04:00"]),
        ("hour", ["2020-02-05T12:00:00", "2020-02-05T11:00:00", "2020-02-05T10:00:00"]),
        ("day", ["2020-02-05T00:00:00", "2020-02-04T00:00:00", "2020-02-03T00:00:00"]),
        # weeks start on Monday
        ("week", ["2020-02-03T00:00:00", "2020-01-27T00:00:00", "2020-01-20T00:00:00"]),
        # months start on the 1st, across a year boundary
        ("month", ["2020-02-01T00:00:00", "2020-01-01T00:00:00", "2019-12-01T00:00:00"]),
    ],
)
def test_buckets_are_aligned_newest_first(
    conn: sqlite3.Connection, unit: str, dates: list[str]
) -> None:
    body = CLICKS(conn, ["bit.ly/a"], {"unit": unit, "units": 3}, REFERENCE)
    assert [entry["date"] for entry in body["link_clicks"]] == [d + "+0000" for d in dates]
    assert (body["unit"], body["units"]) == (unit, 3)
    assert body["unit_reference"] == "2020-02-05T12:06:17+0000"


@pytest.mark.parametrize("unit", ["minute", "hour", "day", "week", "month"])
def test_a_click_on_a_bucket_start_belongs_to_that_bucket(
    conn: sqlite3.Connection, add_click: Callable[..., None], unit: str
) -> None:
    current = bucket_index(unit, REFERENCE)
    start = bucket_start(unit, current)
    previous_start = bucket_start(unit, current - 1)
    add_click("bit.ly/a", start)  # first instant of the newest bucket
    add_click("bit.ly/a", start - 0.001)  # last instant of the previous one
    add_click("bit.ly/a", previous_start)
    add_click("bit.ly/a", previous_start - 1)  # outside a 2-unit window
    body = CLICKS(conn, ["bit.ly/a"], {"unit": unit, "units": 2}, REFERENCE)
    assert [entry["clicks"] for entry in body["link_clicks"]] == [1, 2]
    summary = SUMMARY(conn, ["bit.ly/a"], {"unit": unit, "units": 2}, REFERENCE)
    assert summary["total_clicks"] == 3


def test_bucket_start_and_index_round_trip_for_every_unit() -> None:
    for unit in ("minute", "hour", "day", "week", "month"):
        for ts in (0.0, 86399.5, REFERENCE, utc(2024, 2, 29, 23, 59, 59), utc(2099, 12, 31)):
            index = bucket_index(unit, ts)
            assert bucket_start(unit, index) <= ts < bucket_start(unit, index + 1)


def test_the_whole_reference_bucket_counts(
    conn: sqlite3.Connection, add_click: Callable[..., None]
) -> None:
    add_click("bit.ly/a", utc(2020, 2, 5, 23, 0))  # after 12:06 but the same day
    body = CLICKS(conn, ["bit.ly/a"], {"unit": "day", "units": 1}, REFERENCE)
    assert body["link_clicks"] == [{"date": "2020-02-05T00:00:00+0000", "clicks": 1}]


def test_units_minus_one_starts_at_the_first_click(
    conn: sqlite3.Connection, add_click: Callable[..., None]
) -> None:
    add_click("bit.ly/a", utc(2020, 1, 29, 8))
    add_click("bit.ly/a", utc(2020, 2, 1, 8))
    add_click("bit.ly/other", utc(2019, 1, 1))  # another link's clicks do not stretch it
    body = CLICKS(conn, ["bit.ly/a"], {"unit": "day", "units": -1}, REFERENCE)
    series = body["link_clicks"]
    assert len(series) == 8
    assert series[-1] == {"date": "2020-01-29T00:00:00+0000", "clicks": 1}
    assert body["units"] == -1
    assert SUMMARY(conn, ["bit.ly/a"], {"units": "-1"}, REFERENCE)["total_clicks"] == 2


def test_units_minus_one_starts_at_since_when_earlier(
    conn: sqlite3.Connection, add_click: Callable[..., None]
) -> None:
    add_click("bit.ly/a", utc(2020, 2, 4, 8))
    params = {"unit": "week", "units": -1, SINCE_PARAM: utc(2020, 1, 1)}
    body = CLICKS(conn, ["bit.ly/a"], params, REFERENCE)
    assert body["link_clicks"][-1]["date"] == "2019-12-30T00:00:00+0000"  # Monday
    assert len(body["link_clicks"]) == 6


def test_units_minus_one_without_clicks_is_the_reference_bucket(conn: sqlite3.Connection) -> None:
    body = CLICKS(conn, ["bit.ly/a"], {"unit": "month", "units": -1}, REFERENCE)
    assert body["link_clicks"] == [{"date": "2020-02-01T00:00:00+0000", "clicks": 0}]


def test_defaults_are_day_all_time_now(conn: sqlite3.Connection) -> None:
    window = parse_window({}, REFERENCE)
    assert (window.unit, window.units, window.reference) == ("day", -1, REFERENCE)
    assert parse_window({"unit": "", "units": "", "unit_reference": ""}, 5.0).reference == 5.0


@pytest.mark.parametrize(
    "value",
    [
        "2020-02-05T12:06:17+0000",
        "2020-02-05T12:06:17+00:00",
        "2020-02-05T12:06:17Z",
        "2020-02-05T14:06:17+0200",
        "2020-02-05T07:06:17-05:00",
        "2020-02-05T12:06:17 0000",  # an unencoded "+" arrives as a space
        "2020-02-05T12:06:17",
        "20200205T120617Z",
        1580904377,
        "1580904377",
    ],
)
def test_unit_reference_forms(value: Any) -> None:
    assert parse_unit_reference(value, 0.0) == REFERENCE


def test_unit_reference_with_fraction_and_bare_date() -> None:
    assert parse_unit_reference("2020-02-05T12:06:17.250+0000", 0.0) == REFERENCE + 0.25
    assert parse_unit_reference("2020-02-05", 0.0) == utc(2020, 2, 5)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"unit": "year"}, "unit"),
        ({"unit": "DAY"}, "unit"),
        ({"units": 0}, "units"),
        ({"units": -2}, "units"),
        ({"units": "abc"}, "units"),
        ({"units": "1.5"}, "units"),
        ({"units": True}, "units"),
        ({"units": MAX_UNITS + 1}, "units"),
        ({"unit_reference": "yesterday"}, "unit_reference"),
        ({"unit_reference": "2020-13-01T00:00:00Z"}, "unit_reference"),
        ({"unit_reference": "1960-01-01T00:00:00Z"}, "unit_reference"),
        ({"unit_reference": "0001-01-01T00:00:00+1400"}, "unit_reference"),
        ({"unit_reference": ["2020-01-01"]}, "unit_reference"),
        ({"unit_reference": float("nan")}, "unit_reference"),
    ],
)
def test_invalid_window_params_name_the_field(
    conn: sqlite3.Connection, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(MetricParamError) as caught:
        CLICKS(conn, ["bit.ly/a"], params, REFERENCE)
    assert caught.value.field == field
    assert field in str(caught.value)


@pytest.mark.parametrize("size", [0, -1, "x", 2.5, False])
def test_invalid_size(size: Any) -> None:
    with pytest.raises(MetricParamError) as caught:
        parse_size({"size": size})
    assert caught.value.field == "size"


def test_size_default_and_strings() -> None:
    assert parse_size({}) == 50
    assert parse_size({"size": "3"}) == 3


def test_huge_month_window_stops_at_1970(conn: sqlite3.Connection) -> None:
    body = CLICKS(conn, ["bit.ly/a"], {"unit": "month", "units": MAX_UNITS}, REFERENCE)
    assert body["link_clicks"][-1]["date"] == "1970-01-01T00:00:00+0000"
    assert body["units"] == MAX_UNITS


def test_no_links_gives_zero_filled_series(conn: sqlite3.Connection) -> None:
    body = CLICKS(conn, [], {"unit": "hour", "units": 4}, REFERENCE)
    assert [entry["clicks"] for entry in body["link_clicks"]] == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0.0, "1970-01-01T00:00:00+0000"),
        (REFERENCE + 0.999, "2020-02-05T12:06:17+0000"),
        (bucket_start("week", 0), "1969-12-29T00:00:00+0000"),
        (utc(9999, 12, 31, 23, 59, 59), "9999-12-31T23:59:59+0000"),
    ],
)
def test_bitly_date_format(ts: float, text: str) -> None:
    assert bitly_date(ts) == text
