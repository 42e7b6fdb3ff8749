"""When a cron schedule fires, in its IANA time zone (croniter: DST gaps and repeats).

Times are epoch seconds. `latest_fire` is what a restart runs: the one most recent time at
or before now, however many were missed while nothing was running.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

__all__ = ["fire_key", "latest_fire", "next_fire"]


def _at(ts: float, timezone: str) -> datetime:
    return datetime.fromtimestamp(ts, ZoneInfo(timezone))


def next_fire(cron: str, timezone: str, after: float) -> float:
    """The first time strictly after `after`."""
    fired: datetime = croniter(cron, _at(after, timezone)).get_next(datetime)
    return fired.timestamp()


def latest_fire(cron: str, timezone: str, now: float) -> float:
    """The last time at or before `now`."""
    # croniter's get_prev is strictly before its start: start just after `now`.
    start = _at(now, timezone) + timedelta(microseconds=1)
    fired: datetime = croniter(cron, start).get_prev(datetime)
    return fired.timestamp()


def fire_key(ts: float) -> str:
    """The event key of one fire time (UTC, to the second): a tick is recorded once."""
    return datetime.fromtimestamp(ts, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
