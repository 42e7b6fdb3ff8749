"""Bitly's metric windows: unit/units/unit_reference parsing, bucket alignment, SQL over clicks.

A window is `units` consecutive buckets of one `unit`, ending with the bucket that contains
`unit_reference`. Buckets are aligned in UTC: minutes and hours on the clock, days at midnight,
weeks on Monday, months on the 1st. `units=-1` means all time: the window starts at the bucket
of the first recorded click (or an earlier `since`, e.g. the link's creation).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "MAX_UNITS",
    "UNITS",
    "MetricParamError",
    "Window",
    "bitly_date",
    "bucket_index",
    "bucket_start",
    "clicks_per_bucket",
    "first_click_ts",
    "link_keys_clause",
    "parse_size",
    "parse_unit_reference",
    "parse_window",
]

UNITS = ("minute", "hour", "day", "week", "month")
#: Most buckets one window may span (a minute series of ~70 days); more would only build a
#: response nobody can use, so explicit requests beyond it are refused and all-time is capped.
MAX_UNITS = 100_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_FIXED_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# 1970-01-01 was a Thursday: shifting by 3 days makes week 0 start on Monday 1969-12-29.
_WEEK_SHIFT_DAYS = 3
_INT_RE = re.compile(r"^[+-]?\d+$")
#: 10000-01-01T00:00:00Z in epoch seconds: unit_reference must be before it
_YEAR_10000 = 253402300800.0


class MetricParamError(ValueError):
    """A metrics query parameter (unit, units, unit_reference, size) is invalid."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def bitly_date(ts: float) -> str:
    """`2020-02-03T00:00:00+0000`, Bitly's timestamp form (UTC, offset without a colon)."""
    # isoformat is twice as fast as strftime, which matters for 100,000-bucket minute series.
    return (_NAIVE_EPOCH + timedelta(seconds=ts)).isoformat()[:19] + "+0000"


def bucket_index(unit: str, ts: float) -> int:
    """Number of the `unit` bucket holding epoch time `ts` (consecutive buckets differ by 1)."""
    if unit in _FIXED_SECONDS:
        return math.floor(ts / _FIXED_SECONDS[unit])
    if unit == "week":
        return math.floor((ts / 86400 + _WEEK_SHIFT_DAYS) / 7)
    moment = _EPOCH + timedelta(seconds=ts)
    return moment.year * 12 + moment.month - 1


def bucket_start(unit: str, index: int) -> float:
    """Epoch time at which bucket `index` of `unit` begins."""
    if unit in _FIXED_SECONDS:
        return float(index * _FIXED_SECONDS[unit])
    if unit == "week":
        return float((index * 7 - _WEEK_SHIFT_DAYS) * 86400)
    year, month0 = divmod(index, 12)
    if year > 9999:
        # the bucket after December 9999 (a window's end): datetime stops at year 9999
        return _YEAR_10000
    return (datetime(year, month0 + 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()


def _bucket_sql(unit: str) -> str:
    """SQL expression computing `bucket_index(unit, ts)` for a row (ts >= 0, so CAST floors)."""
    if unit in _FIXED_SECONDS:
        return f"CAST(ts / {_FIXED_SECONDS[unit]} AS INTEGER)"
    if unit == "week":
        return f"CAST((ts / 86400.0 + {_WEEK_SHIFT_DAYS}) / 7 AS INTEGER)"
    return (
        "(CAST(strftime('%Y', ts, 'unixepoch') AS INTEGER) * 12"
        " + CAST(strftime('%m', ts, 'unixepoch') AS INTEGER) - 1)"
    )


def parse_unit_reference(value: Any, now: float) -> float:
    """Epoch seconds of an ISO-8601 `unit_reference`; None or "" means now.

    Accepts Bitly's `2020-02-03T12:06:17+0000`, colon offsets, `Z`, fractional seconds, a bare
    date or a naive time (taken as UTC), and an integer epoch (real traffic has echoed one).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return float(now)
    if isinstance(value, bool):
        raise MetricParamError("unit_reference", "must be an ISO-8601 timestamp")
    if isinstance(value, int | float) and math.isfinite(value):
        ts = float(value)
    elif isinstance(value, str) and _INT_RE.match(value.strip()):
        ts = float(int(value.strip()))
    elif isinstance(value, str):
        # a "+" decoded from an unencoded query string arrives as a space: "...17 0000"
        text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip())
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise MetricParamError(
                "unit_reference",
                f"must be an ISO-8601 timestamp like 2020-02-03T12:06:17+0000, not {value!r}",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            ts = (moment - _EPOCH).total_seconds()
        except OverflowError:
            ts = -1.0
    else:
        raise MetricParamError("unit_reference", "must be an ISO-8601 timestamp")
    if not 0 <= ts < _YEAR_10000:  # 1970-01-01 .. 9999-12-31
        raise MetricParamError("unit_reference", "must be between 1970-01-01 and 9999-12-31")
    return ts


def _parse_int(field: str, value: Any) -> int:
    if isinstance(value, bool):
        raise MetricParamError(field, f"must be an integer, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip())
    raise MetricParamError(field, f"must be an integer, not {value!r}")


def parse_size(params: Mapping[str, Any], default: int = 50) -> int:
    """`size`: how many top entries a facet returns (>= 1; default 50)."""
    value = params.get("size")
    if value is None or value == "":
        return default
    size = _parse_int("size", value)
    if size < 1:
        raise MetricParamError("size", f"must be at least 1, not {size}")
    return size


@dataclass(frozen=True)
class Window:
    """Buckets `first`..`last` (inclusive) of `unit`; clicks with start <= ts < end."""

    unit: str
    #: as requested (-1 for all time), echoed in responses
    units: int
    reference: float
    first: int
    last: int

    @property
    def start(self) -> float:
        return bucket_start(self.unit, self.first)

    @property
    def end(self) -> float:
        return bucket_start(self.unit, self.last + 1)

    @property
    def unit_reference(self) -> str:
        return bitly_date(self.reference)

    def echo(self) -> dict[str, Any]:
        """The unit, units and unit_reference every metrics body repeats."""
        return {"unit": self.unit, "units": self.units, "unit_reference": self.unit_reference}

    def newest_first(self) -> list[tuple[int, str]]:
        """(bucket index, Bitly date of its start) for every bucket, newest first."""
        return [
            (i, bitly_date(bucket_start(self.unit, i)))
            for i in range(self.last, self.first - 1, -1)
        ]


def parse_window(
    params: Mapping[str, Any],
    now: float,
    first_event: float | None = None,
) -> Window:
    """The window `params` ask for. `first_event` anchors units=-1 (None: no events yet)."""
    unit = params.get("unit")
    if unit is None or unit == "":
        unit = "day"
    if unit not in UNITS:
        raise MetricParamError("unit", f"must be one of {', '.join(UNITS)}, not {unit!r}")
    raw_units = params.get("units")
    units = -1 if raw_units is None or raw_units == "" else _parse_int("units", raw_units)
    if units != -1 and not 1 <= units <= MAX_UNITS:
        raise MetricParamError("units", f"must be -1 (all time) or 1..{MAX_UNITS}, not {units}")
    reference = parse_unit_reference(params.get("unit_reference"), now)
    last = bucket_index(unit, reference)
    if units == -1:
        anchor = reference if first_event is None else min(first_event, reference)
        first = max(bucket_index(unit, max(anchor, 0.0)), last - MAX_UNITS + 1)
    else:
        first = last - units + 1
    # Nothing happened before 1970; a huge `units` must not reach for year 0 (months).
    first = max(first, bucket_index(unit, 0.0))
    return Window(unit=unit, units=units, reference=reference, first=first, last=last)


def link_keys_clause(link_keys: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """`link_key IN (...)` bound as one JSON parameter, so any number of links fits one query."""
    return "link_key IN (SELECT value FROM json_each(?))", (json.dumps(list(link_keys)),)


def first_click_ts(conn: sqlite3.Connection, link_keys: Sequence[str]) -> float | None:
    """Time of the earliest click on any of `link_keys`, None when there is none."""
    clause, args = link_keys_clause(link_keys)
    row = conn.execute(f"SELECT MIN(ts) FROM clicks WHERE {clause}", args).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def clicks_per_bucket(
    conn: sqlite3.Connection, link_keys: Sequence[str], window: Window
) -> list[tuple[str, int]]:
    """(Bitly date, clicks) for every bucket of the window, newest first, zero-filled."""
    clause, args = link_keys_clause(link_keys)
    rows = conn.execute(
        f"SELECT {_bucket_sql(window.unit)} AS bucket, COUNT(*) FROM clicks"
        f" WHERE {clause} AND ts >= ? AND ts < ? GROUP BY bucket",
        (*args, window.start, window.end),
    ).fetchall()
    counts = dict(rows)
    return [(date, counts.get(index, 0)) for index, date in window.newest_first()]
