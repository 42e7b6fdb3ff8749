from __future__ import annotations

import asyncio
import itertools

from connector.catalog.models import Bucket
from connector.engine.rate_budget import RateBudget, RateLimitSpec

from .conftest import SimClock


async def _send(budget: RateBudget, clock: SimClock, sent: list[float]) -> None:
    async with budget.slot():
        sent.append(clock.now())


def _max_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_paces_smoothly_under_per_second_limit() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(per_second=10), clock=clock)
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send(budget, clock, sent) for _ in range(50)))

    clock.run(main())
    sent.sort()
    assert _max_in_window(sent, 1.0) <= 10
    # Smooth, not bursty: no second holds a clump followed by silence.
    gaps = [b - a for a, b in itertools.pairwise(sent[1:])]
    assert max(gaps) <= 0.2
    assert sent[-1] - sent[0] < 6.0  # close to the allowed rate, not far below


def test_per_minute_window_is_never_exceeded() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(per_minute=100, per_hour=1000), clock=clock)
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send(budget, clock, sent) for _ in range(300)))

    clock.run(main())
    sent.sort()
    assert _max_in_window(sent, 60.0) <= 100


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
    # No thundering herd: the resumed callers are spaced, not all at the resume instant.
    assert sum(1 for t in after if t == min(after)) == 1
    assert budget.throttles == 1


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
    spec = RateLimitSpec(buckets={"shorten": Bucket(per_minute=60)})
    budget = RateBudget(spec, clock=clock)

    async def main() -> None:
        await budget.pace_bucket("shorten", cost=30)
        await budget.pace_bucket("shorten", cost=30)
        await budget.pace_bucket("shorten", cost=30)

    start = clock.now()
    clock.run(main())
    assert clock.now() - start >= 25.0  # 90 units at ~1/s after a small burst
