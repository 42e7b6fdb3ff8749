"""One declared rate window (N requests a second, minute, hour or calendar month), counted
on the wall clock so that the budget can send exactly what the window allows, as early as
it allows it.

Two ways an API counts, declared per app (`rate_limits.windows`):

- `fixed`: calendar windows aligned on the epoch (each minute, hour, UTC month starts at
  a multiple of its length), as the sandbox and, by all signs, Bitly count. A window's whole
  allowance may go at its very start. Our clock and the server's differ by some skew plus
  the request's latency, so a request sent at wall time `t` is counted in *every* window
  that `[t - margin, t + margin]` touches: near a boundary it uses room in both windows, and
  the first request of a window goes `margin` after the boundary. Whatever side of the
  boundary the server puts it on, that side's count holds it.
- `sliding`: at most N requests in any interval of the window's length. The budget keeps a
  log of send times and spaces request `i + N` at least `length + 2 * margin` after request
  `i`. That is safe under a sliding window *and* under fixed windows at any alignment: a
  fixed window of length L is an interval of length L, and arrivals `length + 2 * margin`
  apart on our clock are at least `length` apart on the server's, as long as the latency
  varies by less than `margin`.

A throttle that our own count did not predict means the server's windows are not where we
assumed (a fixed window at another alignment, a clock far off): the budget then turns its
fixed windows into sliding ones (`to_sliding`), which no alignment can defeat.
"""

from __future__ import annotations

import bisect
import calendar
import math
import time
from collections import deque

__all__ = ["APP_LIMIT", "MONTH", "RateWindow", "margin_for", "window_name"]

#: `seconds` of a calendar-month window (its length varies; counted by UTC month)
MONTH = -1.0

#: whose limit a window counts, unless told (a run's own windows say so)
APP_LIMIT = "the app's rate limit"

_NAMES = {1.0: "second", 60.0: "minute", 3600.0: "hour", MONTH: "month"}


def window_name(seconds: float) -> str:
    return _NAMES.get(seconds, f"{seconds:g} s")


def margin_for(seconds: float) -> float:
    """Clock skew plus latency jitter allowed for: 1% of a window, at most half a second."""
    return 0.5 if seconds == MONTH else min(0.5, 0.01 * seconds)


def _month_index(wall: float) -> int:
    t = time.gmtime(wall)
    return t.tm_year * 12 + t.tm_mon - 1


def _month_start(index: int) -> float:
    year, month0 = divmod(index, 12)
    return float(calendar.timegm((year, month0 + 1, 1, 0, 0, 0, 0, 0, 0)))


class RateWindow:
    """`limit` requests per window of `seconds` (or MONTH), fixed or sliding."""

    __slots__ = ("counts", "limit", "log", "margin", "owner", "seconds", "sliding")

    def __init__(
        self,
        limit: int,
        seconds: float,
        *,
        sliding: bool = False,
        margin: float | None = None,
        owner: str = APP_LIMIT,
    ) -> None:
        if limit < 1:
            raise ValueError(f"a rate window needs a limit of at least 1, not {limit}")
        self.limit = limit
        self.seconds = seconds
        self.sliding = sliding and seconds != MONTH  # a month is always a calendar month
        self.margin = margin_for(seconds) if margin is None else margin
        #: whose limit it is, as a wait for it is announced ("the workflow's limit")
        self.owner = owner
        #: fixed: window index -> requests counted in it
        self.counts: dict[int, int] = {}
        #: send times (wall), oldest first, the last `limit` at most: the sliding count, and
        #: what a fixed window becomes sliding from
        self.log: deque[float] = deque(maxlen=limit)

    @property
    def name(self) -> str:
        return window_name(self.seconds)

    # -- fixed windows -----------------------------------------------------------------------

    def _index(self, wall: float) -> int:
        if self.seconds == MONTH:
            return _month_index(wall)
        return math.floor(wall / self.seconds)

    def _start(self, index: int) -> float:
        if self.seconds == MONTH:
            return _month_start(index)
        return index * self.seconds

    def _span(self, wall: float) -> range:
        return range(self._index(wall - self.margin), self._index(wall + self.margin) + 1)

    # -- the budget's questions --------------------------------------------------------------

    def earliest(self, wall: float) -> float:
        """The first wall time at or after `wall` when one more request fits."""
        if self.sliding:
            if len(self.log) < self.limit:
                return wall
            return max(wall, self.log[0] + self.seconds + 2 * self.margin)
        t = wall
        counts, limit = self.counts, self.limit
        while True:
            full = [i for i in self._span(t) if counts.get(i, 0) >= limit]
            if not full:
                return t
            t = self._start(max(full) + 1) + self.margin

    def commit(self, wall: float, n: int = 1) -> None:
        """Count `n` requests sent at `wall` (reserved: the caller sends at that time)."""
        for _ in range(n):
            if self.log and wall < self.log[-1]:
                # keep the log ordered (a reservation made before a later one's time)
                ordered = list(self.log)
                bisect.insort(ordered, wall)
                self.log = deque(ordered[-self.limit :], maxlen=self.limit)
            else:
                self.log.append(wall)
        if self.sliding:
            return
        for index in self._span(wall):
            self.counts[index] = self.counts.get(index, 0) + n

    def release(self, wall: float) -> None:
        """Withdraw one request counted at `wall` (a reservation made again elsewhere).
        The log keeps only the newest `limit` times: one pushed out of it constrains
        nothing any more, but a fixed window's counts still hold it."""
        if wall in self.log:
            self.log.remove(wall)
        if self.sliding:
            return
        for index in self._span(wall):
            left = self.counts.get(index, 0) - 1
            if left > 0:
                self.counts[index] = left
            else:
                self.counts.pop(index, None)

    def idle(self, wall: float) -> bool:
        """Nothing counted constrains a request at or after `wall`: the window is as good
        as a new one (what a per-run window may be dropped on)."""
        if not self.log:
            return not self.counts
        last = self.log[-1]
        if self.seconds == MONTH:
            return self._index(last + self.margin) < self._index(wall - self.margin)
        return last + self.seconds + 2 * self.margin <= wall

    def copy(self) -> RateWindow:
        twin = RateWindow(
            self.limit, self.seconds, sliding=self.sliding, margin=self.margin, owner=self.owner
        )
        twin.counts = dict(self.counts)
        twin.log = deque(self.log, maxlen=self.limit)
        return twin

    def forget(self, wall: float) -> None:
        """No request will be counted before `wall` any more: drop older fixed windows.

        Not done by `commit`: requests waiting together are committed into later and later
        windows, and the window they all start from must still hold its count."""
        if len(self.counts) > 2:
            oldest = self._index(wall - self.margin) - 1
            for index in [i for i in self.counts if i < oldest]:
                del self.counts[index]

    def used(self, count: int, wall: float) -> None:
        """`count` requests were already made in the current window by others (figures the
        API reported). Their times are unknown: counted as made just now, which is safe
        for both kinds (the current fixed window, or the sliding log's newest entries)."""
        count = min(count, self.limit)
        if count <= 0:
            return
        if self.sliding:
            self.commit(wall, count)
            return
        index = self._index(wall)
        self.counts[index] = max(self.counts.get(index, 0), count)
        self.log.extend([wall] * count)

    def reopens(self, wall: float) -> float:
        """When the window holding `wall` is over (fixed), or its oldest request ages out
        (sliding): where a throttle's pause ends when the API names no wait."""
        if self.sliding:
            if not self.log:
                return wall
            return max(wall, self.log[0] + self.seconds + 2 * self.margin)
        return self._start(self._index(wall) + 1) + self.margin

    def to_sliding(self) -> None:
        """The server's windows are not aligned with ours: count by the safe sliding log."""
        if self.seconds != MONTH:
            self.sliding = True
            self.counts.clear()
