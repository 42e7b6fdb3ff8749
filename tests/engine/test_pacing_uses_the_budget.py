"""Acceptance: pacing uses the whole budget, on simulated time, against the sandbox's own
window logic, with no throttled answer (issue 9, point 1).

Bitly's declared basic limits (100 a minute, 1,000 an hour) are what the sandbox enforces
and what its platform_limits endpoint reports; the engine learns them from there. The
ideal is the schedule of a client that knows the server's windows exactly.
"""

from __future__ import annotations

from collections import Counter

import pytest

from .pacing_sim import ideal_times, run_loop_against_sandbox

pytestmark = pytest.mark.slow

MINUTE_START = 0.0  # SimClock's t=0 is on a minute and an hour boundary of the wall clock
WALL0 = 1_767_225_600.0  # SimClock's wall time at t=0


def _per_window(times: list[float], period: float) -> Counter[int]:
    return Counter(int((t + WALL0) // period) for t in times)


@pytest.mark.parametrize("offset", [0.0, 30.0, 47.3])
def test_1000_items_at_100_a_minute_and_1000_an_hour_fixed_windows(offset: float) -> None:
    run = run_loop_against_sandbox(1000, start=MINUTE_START + offset)
    assert run.ok
    assert run.throttled == 0
    assert len(run.sends) == 1000
    assert run.ratio <= 1.05, (run.duration, run.ideal_duration)
    # Exactly what each window allows: full minutes, and the hour's 1,000.
    minutes = _per_window(run.sends, 60.0)
    assert max(minutes.values()) == 100
    assert sorted(minutes.values())[1:-1] == [100] * (len(minutes) - 2)


@pytest.mark.parametrize("offset", [0.0, 30.0])
def test_150_items_fixed_windows(offset: float) -> None:
    run = run_loop_against_sandbox(150, start=MINUTE_START + offset)
    assert run.ok and run.throttled == 0
    assert run.ratio <= 1.05, (run.duration, run.ideal_duration)
    # The first 100 go at once; the other 50 as the next minute opens.
    assert run.sends[:100] == [run.sends[0]] * 100
    assert run.duration == pytest.approx(60.0 - offset + 0.5)


@pytest.mark.parametrize("n", [150, 1000])
def test_sliding_windows_declared_sliding(n: int) -> None:
    run = run_loop_against_sandbox(n, start=MINUTE_START + 12.5, windows="sliding")
    assert run.ok and run.throttled == 0
    assert run.ratio <= 1.05, (run.duration, run.ideal_duration)


@pytest.mark.parametrize("skew", [-17.3, 0.2, 29.9])
def test_a_server_whose_fixed_windows_are_not_aligned_with_ours(skew: float) -> None:
    # The server's minute starts `skew` seconds off ours, and nothing tells us (Bitly names
    # no wait). Each of our windows' allowance goes as one burst right after our boundary,
    # which lands in one server window: no throttle, and as fast as against a server
    # aligned with us. (A client that knew the server's alignment could start its second
    # window up to a minute earlier: 1.06x and 1.09x of that ideal for -17.3 s and 29.9 s.)
    run = run_loop_against_sandbox(1000, start=MINUTE_START + 5.0, skew=skew)
    assert run.ok
    assert run.throttled == 0
    ours = ideal_times(1000, WALL0 + run.sends[0], [(100, 60.0), (1000, 3600.0)], False)
    assert run.duration <= 1.05 * (ours[-1] - ours[0]), (run.duration, ours[-1] - ours[0])


def test_the_hour_is_held_too() -> None:
    # 1,200 items: the hour's 1,000 in its first ten minutes, the rest in the next hour.
    run = run_loop_against_sandbox(1200, start=MINUTE_START + 30.0)
    assert run.ok and run.throttled == 0
    hours = _per_window(run.sends, 3600.0)
    assert sorted(hours.values()) == [200, 1000]
    assert run.ratio <= 1.05, (run.duration, run.ideal_duration)


def test_ideal_schedule() -> None:
    fixed = ideal_times(250, 30.0, [(100, 60.0), (1000, 3600.0)], sliding=False)
    assert fixed[:100] == [30.0] * 100 and fixed[100] == 60.0 and fixed[200] == 120.0
    sliding = ideal_times(250, 30.0, [(100, 60.0)], sliding=True)
    assert sliding[100] == 90.0 and sliding[200] == 150.0
