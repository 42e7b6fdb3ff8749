from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from connector.engine.rate_budget import RateBudget, RateLimitSpec

from .conftest import SimClock


async def _send(budget: RateBudget, clock: SimClock, sent: list[float]) -> None:
    async with budget.slot():
        sent.append(clock.now())


def _max_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_a_sliding_per_second_window_lets_its_whole_allowance_go_at_once() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(per_second=10), clock=clock)
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send(budget, clock, sent) for _ in range(50)))

    start = clock.now()
    clock.run(main())
    sent.sort()
    assert _max_in_window(sent, 1.0) <= 10
    # Ten at once, then ten more as soon as the first ten are a window (plus 2% margin) old.
    assert sent[:10] == [start] * 10
    assert sent[10] == pytest.approx(start + 1.02)
    assert sent[-1] - start == pytest.approx(4 * 1.02)


def test_per_minute_window_is_never_exceeded() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(per_minute=100, per_hour=1000), clock=clock)
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send(budget, clock, sent) for _ in range(300)))

    clock.run(main())
    sent.sort()
    assert _max_in_window(sent, 60.0) <= 100
    assert sent[-1] - sent[0] == pytest.approx(2 * 61.0)


def test_fixed_windows_use_the_rest_of_the_current_window_then_each_boundary() -> None:
    clock = SimClock(start=30.0)  # half a minute into a clock-aligned minute
    spec = RateLimitSpec(per_minute=100, per_hour=1000, windows="fixed")
    budget = RateBudget(spec, clock=clock)
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send(budget, clock, sent) for _ in range(250)))

    clock.run(main())
    sent.sort()
    by_minute = Counter(int(clock.wall_of(t) // 60) for t in sent)
    assert sorted(by_minute.values()) == [50, 100, 100]
    assert sent[:100] == [30.0] * 100
    assert sent[100:200] == [60.5] * 100  # the next minute, half a second in
    assert sent[200:] == [120.5] * 50


def test_concurrency_cap_holds() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(concurrency=5), clock=clock)
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with budget.slot():
            peak = max(peak, budget.in_flight)
            await clock.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(40)))

    clock.run(main())
    assert peak == 5


def test_throttle_pauses_everyone_until_the_window_reopens() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(per_second=20), clock=clock)
    start = clock.now()
    sent: list[float] = []

    async def main() -> None:
        await _send(budget, clock, sent)
        budget.throttled(5.0)  # one caller is throttled; nobody may send for 5 s
        await asyncio.gather(*(_send(budget, clock, sent) for _ in range(10)))

    clock.run(main())
    after = sorted(sent[1:])
    assert min(after) >= start + 5.0
    # No thundering herd: one probe first, the others only once it has been answered.
    assert budget.throttles == 1 and not budget._gated


def test_sleeping_caller_rechecks_a_throttle_that_arrived_meanwhile() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(per_second=1), clock=clock)
    sent: list[float] = []

    async def throttle_soon() -> None:
        await asyncio.sleep(0)
        budget.throttled(30.0)

    async def main() -> None:
        await _send(budget, clock, sent)  # t0
        await asyncio.gather(_send(budget, clock, sent), throttle_soon())

    clock.run(main())
    assert sent[1] >= sent[0] + 30.0


def test_bucket_pacing_counts_cost() -> None:
    clock = SimClock()
    spec = RateLimitSpec(buckets=(("shorten", 60, None),))
    budget = RateBudget(spec, clock=clock)

    async def main() -> None:
        await budget.pace_bucket("shorten", cost=30)
        await budget.pace_bucket("shorten", cost=30)
        await budget.pace_bucket("shorten", cost=30)

    start = clock.now()
    clock.run(main())
    # 60 units fit the first minute; the third call's 30 wait for the next one.
    assert clock.now() - start == pytest.approx(60.0 * 1.02 - 0.0, abs=1.0)
