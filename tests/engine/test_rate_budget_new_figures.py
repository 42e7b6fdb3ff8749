"""An in-process budget given new figures (learned, refreshed after a throttle) while
requests wait in it: each is counted in the windows in force when it goes, by the endpoint
it goes to, never only in windows that were replaced (the shared budget's counterpart:
test_shared_budget_new_figures.py). Simulated time: nothing really waits."""

from __future__ import annotations

import asyncio
from collections import Counter

from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.rate_limits import EndpointLimit

from .conftest import SimClock
from .test_shared_budget_arithmetic import _send_to

SHORTEN = EndpointLimit("POST", "shorten", "POST /v4/shorten", per_minute=100, per_hour=1000)


def _per_minute(sent: list[float]) -> Counter[int]:
    return Counter(int(t // 60.0) for t in sent)


def test_requests_waiting_when_per_endpoint_figures_replace_the_app_wide_ones() -> None:
    clock = SimClock(start=0.0)
    declared = RateLimitSpec(
        per_minute=100,
        per_hour=1000,
        windows="fixed",
        sources=(("per_minute", "manifest"), ("per_hour", "manifest")),
    )
    budget = RateBudget(declared, clock=clock, name="app")
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send_to(budget, clock, sent) for _ in range(100)))
        # The minute is used up: three wait for the next one, reserved in the app-wide
        # windows.
        waiting = [asyncio.ensure_future(_send_to(budget, clock, sent)) for _ in range(3)]
        await clock.sleep(1.0)
        # The API's own figures: per endpoint, the hour's 100 sends already counted.
        learned = EndpointLimit(
            "POST", "shorten", "POST /v4/shorten", per_minute=100, per_hour=1000, used_hour=100
        )
        budget.apply(budget.spec.learned((learned,), "the API"))
        assert budget.spec.per_minute is None  # the app-wide windows are gone
        later = [asyncio.ensure_future(_send_to(budget, clock, sent)) for _ in range(100)]
        await asyncio.gather(*waiting, *later)

    clock.run(main())
    assert len(sent) == 203
    minutes = _per_minute(sent)
    # Without the three being counted in the endpoint's windows, 103 go in the second
    # minute: a throttle.
    assert max(minutes.values()) == 100
    assert sorted(minutes.values()) == [3, 100, 100]
    # Each request is counted once in the windows in force (the hour: the API's 100, then
    # the 103 sent since).
    hour = budget._endpoints["POST /v4/shorten"][1]
    assert hour.seconds == 3600.0
    assert len([t for t in hour.log if t > clock.wall_of(1.0)]) == 103


def test_a_request_waiting_out_a_pause_is_counted_in_the_refreshed_windows() -> None:
    clock = SimClock(start=0.0)
    declared = RateLimitSpec(per_minute=100, windows="fixed", sources=(("per_minute", "manifest"),))
    budget = RateBudget(declared, clock=clock, name="app")
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send_to(budget, clock, sent) for _ in range(100)))
        waiting = [asyncio.ensure_future(_send_to(budget, clock, sent)) for _ in range(3)]
        await clock.sleep(1.0)
        # A throttle the count did not predict (the figures are stale), then the
        # refreshed ones, per endpoint: the three go again after the pause.
        budget.throttled(None)
        learned = EndpointLimit(
            "POST", "shorten", "POST /v4/shorten", per_minute=100, per_hour=1000, used_hour=100
        )
        budget.apply(budget.spec.learned((learned,), "the API"))
        later = [asyncio.ensure_future(_send_to(budget, clock, sent)) for _ in range(100)]
        await asyncio.gather(*waiting, *later)

    clock.run(main())
    assert len(sent) == 203
    assert max(_per_minute(sent).values()) == 100


def test_a_bucket_keeps_its_count_when_the_figures_change() -> None:
    clock = SimClock(start=0.0)
    spec = RateLimitSpec(windows="fixed", buckets=(("search", 10, None),))
    budget = RateBudget(spec, clock=clock, name="app")
    times: list[float] = []

    async def main() -> None:
        for _ in range(10):
            await budget.pace_bucket("search")
            times.append(clock.now())
        budget.apply(RateLimitSpec(windows="fixed", per_minute=500, buckets=spec.buckets))
        await budget.pace_bucket("search")
        times.append(clock.now())

    clock.run(main())
    assert times[:10] == [0.0] * 10
    assert times[10] == 60.5  # the bucket's minute was used up before the change
