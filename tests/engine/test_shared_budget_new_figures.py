"""A shared budget given new figures (learned, refreshed after a throttle, a workflow's
limits on a worker) while requests wait for their reservation: each is counted in the
windows in force when it is reserved, by the endpoint it goes to. A worker's engine
serves many runs at once, so figures can change under requests already waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from connector.engine.rate_budget import RateLimitSpec
from connector.engine.rate_limits import EndpointLimit
from connector.engine.shared_budget_store import Reserved

from .conftest import SimClock
from .test_shared_budget_arithmetic import MemoryStore, _send_to, _shared

SHORTEN = EndpointLimit("POST", "shorten", "POST /v4/shorten", per_minute=100, per_hour=1000)


def test_requests_queued_before_the_figures_are_learned_count_in_the_learned_windows() -> None:
    clock = SimClock(start=10.0)
    store = MemoryStore(clock)
    declared = RateLimitSpec(
        per_minute=50,
        per_hour=500,
        windows="fixed",
        sources=(("per_minute", "manifest"), ("per_hour", "manifest")),
    )
    budget = _shared(declared, store, clock)
    sent: list[float] = []

    async def main() -> None:
        waiting = [asyncio.ensure_future(_send_to(budget, clock, sent)) for _ in range(5)]
        await asyncio.sleep(0)  # all five queued for the next reservation
        budget.apply(budget.spec.learned((SHORTEN,), "the API"))
        await asyncio.gather(*waiting)

    clock.run(main())
    assert len(sent) == 5
    # counted by the endpoint's windows, which replaced the app-wide ones
    assert "app/minute" not in store.windows
    minute = store.windows["POST /v4/shorten/minute"]
    assert sum(minute.counts.values()) == 5


def test_a_request_waiting_out_a_pause_is_counted_in_the_refreshed_windows() -> None:
    clock = SimClock(start=10.0)
    store = MemoryStore(clock)
    spec = RateLimitSpec(windows="fixed", endpoints=(SHORTEN,))
    budget = _shared(spec, store, clock)
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send_to(budget, clock, sent) for _ in range(100)))
        # the minute is used up: the next ones wait for the next one
        waiting = [asyncio.ensure_future(_send_to(budget, clock, sent)) for _ in range(3)]
        await clock.sleep(1.0)
        refreshed = EndpointLimit(
            "POST", "shorten", "POST /v4/shorten", per_minute=100, per_hour=1000, used_hour=100
        )
        budget.throttled(None)  # the requests waiting re-reserve after the pause
        budget.apply(RateLimitSpec(windows="fixed", endpoints=(refreshed,)))
        await asyncio.gather(*waiting)

    clock.run(main())
    assert len(sent) == 103
    assert all(t >= clock.wall_of(60.0) for t in sent[100:])  # in the next minute
    assert set(store.windows) == {"POST /v4/shorten/minute", "POST /v4/shorten/hour"}
    # Each of the three is counted in the refreshed windows: once where it was reserved
    # before the pause, once again after it (a reservation that predates a pause stays
    # counted: the safe side).
    hour = store.windows["POST /v4/shorten/hour"]
    assert sum(t >= clock.wall_of(60.0) for t in hour.log) == 6


class ChangingStore(MemoryStore):
    """New figures arrive while the first reservation is reading the database."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__(clock)
        self.budget: Any = None
        self.rolled_back = 0

    async def reserve(
        self, key: str, app: str, ids: Any, compute: Callable[..., Reserved]
    ) -> tuple[float, float]:
        if self.budget is not None:
            budget, self.budget = self.budget, None
            budget.apply(budget.spec.learned((SHORTEN,), "the API"))
            before = dict(self.windows)
            try:
                return await super().reserve(key, app, ids, compute)
            except Exception:
                assert self.windows == before  # nothing written
                self.rolled_back += 1
                raise
        return await super().reserve(key, app, ids, compute)


def test_figures_changed_during_a_reservation_roll_it_back_and_reserve_again() -> None:
    clock = SimClock(start=10.0)
    store = ChangingStore(clock)
    budget = _shared(RateLimitSpec(windows="fixed", endpoints=()), store, clock)
    store.budget = budget
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send_to(budget, clock, sent) for _ in range(5)))

    clock.run(main())
    assert len(sent) == 5
    assert store.rolled_back == 1
    assert sum(store.windows["POST /v4/shorten/minute"].counts.values()) == 5
