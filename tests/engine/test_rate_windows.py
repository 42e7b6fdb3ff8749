"""Rate windows, endpoint matching and per-endpoint budgets, on exact numbers."""

from __future__ import annotations

import asyncio
import calendar
import random
from collections import Counter

import pytest

from connector.engine.endpoint_match import EndpointMatcher
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.rate_limits import EndpointLimit
from connector.engine.rate_windows import MONTH, RateWindow
from connector.errors import QuotaExhausted

from .conftest import SimClock

WALL0 = 1_767_225_600.0  # on a minute, hour and (2026-01-01) month boundary


def test_a_fixed_window_lets_its_allowance_go_at_once_then_waits_for_the_boundary() -> None:
    w = RateWindow(3, 60.0)
    t = WALL0 + 10.0
    for _ in range(3):
        assert w.earliest(t) == t
        w.commit(t)
    assert w.earliest(t) == WALL0 + 60.0 + 0.5  # the next minute, plus the margin


def test_a_request_near_a_boundary_counts_in_both_windows() -> None:
    # Sent 0.2 s before the boundary: the server may see it on either side.
    w = RateWindow(2, 60.0)
    near = WALL0 + 59.8
    w.commit(near)
    w.commit(near)
    assert w.earliest(near) == WALL0 + 120.5  # both this minute and the next are full


def test_a_sliding_window_spaces_request_n_plus_limit_a_window_and_two_margins_later() -> None:
    w = RateWindow(2, 10.0, sliding=True)
    w.commit(WALL0)
    w.commit(WALL0 + 3.0)
    assert w.earliest(WALL0 + 4.0) == WALL0 + 10.0 + 0.2
    w.commit(WALL0 + 10.2)
    assert w.earliest(WALL0 + 10.2) == WALL0 + 13.0 + 0.2


def test_sliding_is_safe_under_any_alignment_of_fixed_windows() -> None:
    # Whatever the offset of a server's fixed windows, and with latency varying by up to
    # the margin, no server window receives more than the limit.
    rng = random.Random(5)
    limit, period = 7, 10.0
    w = RateWindow(limit, period, sliding=True)
    t, sends = WALL0, []
    for _ in range(300):
        t = w.earliest(t + rng.choice([0.0, 0.0, 0.05, 1.3]))
        w.commit(t)
        sends.append(t)
    for _ in range(50):
        offset = rng.uniform(0, period)
        arrivals = [s + rng.uniform(-w.margin, w.margin) for s in sends]
        per_window = Counter(int((a - offset) // period) for a in arrivals)
        assert max(per_window.values()) <= limit


def test_turning_sliding_keeps_the_sends_already_counted() -> None:
    w = RateWindow(2, 60.0)
    w.commit(WALL0 + 59.0)
    w.commit(WALL0 + 59.0)
    w.to_sliding()
    # Two sends a second before the boundary: a sliding count waits a whole window for them.
    assert w.earliest(WALL0 + 61.0) == pytest.approx(WALL0 + 59.0 + 61.0)


def test_counts_already_used_are_taken_as_just_now() -> None:
    w = RateWindow(10, 3600.0)
    w.used(7, WALL0 + 100.0)
    for _ in range(3):
        w.commit(WALL0 + 100.0)
    assert w.earliest(WALL0 + 100.0) == WALL0 + 3600.5


def test_a_month_window_is_the_utc_calendar_month() -> None:
    w = RateWindow(2, MONTH)
    jan_31 = calendar.timegm((2026, 1, 31, 23, 0, 0))
    w.commit(jan_31)
    w.commit(jan_31)
    assert w.earliest(jan_31) == calendar.timegm((2026, 2, 1, 0, 0, 0)) + 0.5
    assert RateWindow(2, MONTH, sliding=True).sliding is False  # always calendar


def test_a_used_up_month_fails_at_once_instead_of_waiting_weeks() -> None:
    clock = SimClock(start=0.0)
    budget = RateBudget(RateLimitSpec(per_month=3, windows="fixed"), clock=clock, name="bitly")

    async def main() -> None:
        for _ in range(3):
            async with budget.slot():
                pass
        with pytest.raises(QuotaExhausted, match="monthly limit of 3 requests to bitly"):
            async with budget.slot():
                pass

    clock.run(main())
    assert budget.in_flight == 0 and budget.sent == 3


def test_endpoint_templates_match_filled_paths() -> None:
    m = EndpointMatcher(
        [
            ("one", "GET", "bitlinks/{bitlink:2}"),
            ("clicks", "GET", "bitlinks/{bitlink:2}/clicks"),
            ("summary", "GET", "bitlinks/{bitlink:2}/clicks/summary"),
            ("shorten", "POST", "shorten"),
            ("group", "GET", "groups/{group_guid}"),
        ]
    )
    assert m.match("GET", "bitlinks/bit.ly/abc") == "one"
    assert m.match("GET", "bitlinks/bit.ly/abc/clicks") == "clicks"
    assert m.match("GET", "bitlinks/bit.ly/abc/clicks/summary?unit=day") == "summary"
    assert m.match("POST", "/shorten") == "shorten"
    assert m.match("GET", "shorten") is None  # another method
    assert m.match("GET", "groups/B1/bitlinks") is None
    assert m.match("GET", "groups/B1") == "group"
    assert m.match("GET", "groups/B1") == "group"  # cached


def test_each_endpoint_is_paced_by_its_own_windows() -> None:
    clock = SimClock(start=0.0)
    spec = RateLimitSpec(
        windows="fixed",
        endpoints=(
            EndpointLimit("POST", "shorten", "POST /v4/shorten", per_minute=3),
            EndpointLimit("GET", "bitlinks/{bitlink:2}", "GET /v4/bitlinks/{bitlink}", 2),
        ),
    )
    budget = RateBudget(spec, clock=clock)
    sent: list[tuple[str, float]] = []

    async def one(method: str, path: str) -> None:
        async with budget.slot(method, path):
            sent.append((path.split("/")[0], clock.now()))

    async def main() -> None:
        await asyncio.gather(
            *(one("POST", "shorten") for _ in range(4)),
            *(one("GET", f"bitlinks/bit.ly/x{i}") for i in range(3)),
            one("GET", "user"),  # no limit reported for it
        )

    clock.run(main())
    times = Counter(sent)
    assert times[("shorten", 0.0)] == 3 and times[("shorten", 60.5)] == 1
    assert times[("bitlinks", 0.0)] == 2 and times[("bitlinks", 60.5)] == 1
    assert times[("user", 0.0)] == 1


def test_a_throttle_the_count_did_not_predict_turns_the_windows_sliding() -> None:
    clock = SimClock(start=0.0)
    spec = RateLimitSpec(per_minute=5, windows="fixed", throttle_defaults=frozenset({60.0}))
    budget = RateBudget(spec, clock=clock)

    async def main() -> None:
        async with budget.slot():
            pass
        budget.throttled(60.0)

    clock.run(main())
    assert budget._windows[0].sliding and budget.stale
    # the next minute plus 1 s, but never longer than the error table's 60 s default
    assert budget.pause_left() == pytest.approx(60.0)


@pytest.mark.parametrize("sliding", [False, True])
def test_a_released_reservation_gives_its_room_back(sliding: bool) -> None:
    window = RateWindow(2, 60.0, sliding=sliding)
    window.commit(30.0)
    window.commit(40.0)
    assert window.earliest(45.0) > 45.0
    window.release(40.0)
    assert window.earliest(45.0) == 45.0
    window.release(99.0)  # never counted: nothing changes
    window.commit(45.0)
    assert window.earliest(46.0) > 46.0


def test_a_fixed_window_releases_a_count_its_log_no_longer_holds() -> None:
    window = RateWindow(1, 60.0)
    window.commit(10.0)
    window.commit(70.0)  # the log keeps only the newest `limit` times
    window.release(10.0)
    assert window.earliest(20.0) == 20.0


@pytest.mark.parametrize("sliding", [False, True])
def test_a_window_is_idle_once_nothing_it_counted_constrains(sliding: bool) -> None:
    window = RateWindow(5, 60.0, sliding=sliding)
    assert window.idle(0.0)
    window.commit(100.0)
    assert not window.idle(100.0)
    assert not window.idle(160.0)  # within a window length and its margins
    assert window.idle(161.0)


def test_a_month_window_is_idle_in_the_next_month() -> None:
    window = RateWindow(5, MONTH)
    jan = calendar.timegm((2026, 1, 15, 0, 0, 0, 0, 0, 0))
    feb = calendar.timegm((2026, 2, 1, 0, 0, 1, 0, 0, 0))
    window.commit(float(jan))
    assert not window.idle(float(jan) + 86400)
    assert window.idle(float(feb))
