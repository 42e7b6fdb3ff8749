"""The shared budget's arithmetic on simulated time, without a database: budgets of
several "processes" share one in-memory stand-in for the store (the same `compute`
contract the PostgreSQL store runs under its lock), and must schedule exactly what one
in-process budget schedules for the same requests."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from connector.budget import PACING_WAITS, PacingWaits, WaitRefused
from connector.clock import FakeClock
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.rate_limits import EndpointLimit
from connector.engine.shared_budget import SharedRateBudget, budget_key
from connector.engine.shared_budget_store import Reserved, WindowState
from connector.errors import QuotaExhausted

from .conftest import SimClock


class MemoryStore:
    """The store's contract in memory: one lock, the windows' states, the pause."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.windows: dict[str, WindowState] = {}
        self.resume_at = 0.0
        self.transactions = 0
        self._lock = asyncio.Lock()

    async def reserve(
        self, key: str, app: str, ids: Any, compute: Callable[..., Reserved]
    ) -> tuple[float, float]:
        async with self._lock:
            await asyncio.sleep(0)  # other processes queue meanwhile
            now = self.clock.wall()
            # states as the database would hand them over: copies, through the encoding
            states = {
                wid: WindowState.decode(*self.windows[wid].encode())
                for wid in ids
                if wid in self.windows
            }
            reserved = compute(now, self.resume_at, states)
            self.windows.update(reserved.windows)
            self.transactions += 1
            return now, self.resume_at

    async def drop_windows(self, key: str, prefix: str) -> None:
        for wid in [w for w in self.windows if w.startswith(prefix)]:
            del self.windows[wid]

    async def pause(self, key: str, app: str, seconds: float, sliding: list[str]) -> None:
        self.resume_at = max(self.resume_at, self.clock.wall() + seconds)
        for wid in sliding:
            if wid in self.windows:
                self.windows[wid] = WindowState({}, self.windows[wid].log, True)


def _shared(spec: RateLimitSpec, store: MemoryStore, clock: SimClock) -> SharedRateBudget:
    return SharedRateBudget(
        spec, store=lambda: store, key=budget_key("app", "token"), clock=clock, name="app"
    )  # type: ignore[arg-type]


async def _send(budget: RateBudget, clock: SimClock, sent: list[float]) -> None:
    async with budget.slot():
        sent.append(clock.wall())


def _schedule(budgets: list[RateBudget], clock: SimClock, n: int) -> list[float]:
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send(budgets[i % len(budgets)], clock, sent) for i in range(n)))

    clock.run(main())
    return sorted(sent)


SPECS = [
    RateLimitSpec(per_minute=100, per_hour=1000, windows="fixed"),
    RateLimitSpec(per_minute=100, per_hour=1000, windows="sliding"),
    RateLimitSpec(per_second=10, per_minute=120, windows="fixed"),
]


@pytest.mark.parametrize("spec", SPECS, ids=["fixed", "sliding", "second+minute"])
@pytest.mark.parametrize("start", [0.0, 30.0, 59.7])
def test_three_processes_schedule_exactly_what_one_budget_does(
    spec: RateLimitSpec, start: float
) -> None:
    alone = SimClock(start=start)
    expected = _schedule([RateBudget(spec, clock=alone)], alone, 350)
    clock = SimClock(start=start)
    store = MemoryStore(clock)
    three: list[RateBudget] = [_shared(spec, store, clock) for _ in range(3)]
    assert _schedule(three, clock, 350) == expected


def test_without_sharing_three_budgets_send_three_times_the_minute() -> None:
    # The control: what the shared store prevents.
    clock = SimClock(start=30.0)
    spec = RateLimitSpec(per_minute=100, windows="fixed")
    sent = _schedule([RateBudget(spec, clock=clock) for _ in range(3)], clock, 300)
    assert sent.count(sent[0]) == 300


def test_a_throttle_seen_by_one_pauses_the_others() -> None:
    clock = SimClock(start=10.0)
    store = MemoryStore(clock)
    spec = RateLimitSpec(per_minute=100, windows="fixed")
    one, two = _shared(spec, store, clock), _shared(spec, store, clock)
    sent: list[float] = []

    async def main() -> None:
        await _send(one, clock, sent)
        one.throttled(7.0)  # the API named its wait
        await asyncio.sleep(0)  # the pause is written before anything else is reserved
        await asyncio.sleep(0)
        await _send(two, clock, sent)

    clock.run(main())
    assert store.resume_at == pytest.approx(clock.wall_of(10.0) + 7.0)
    assert sent[1] == pytest.approx(sent[0] + 7.0)
    assert two.pause_left() == pytest.approx(0.0)


def test_a_window_turned_sliding_by_one_is_sliding_for_all() -> None:
    clock = SimClock(start=10.0)
    store = MemoryStore(clock)
    spec = RateLimitSpec(per_minute=100, windows="fixed")
    one, two = _shared(spec, store, clock), _shared(spec, store, clock)

    async def main() -> None:
        async with one.slot():
            pass
        one.throttled(None)  # unpredicted: the server's windows are elsewhere
        async with two.slot():
            pass

    clock.run(main())
    assert store.windows["app/minute"].sliding
    assert two._windows[0].sliding


def test_the_apis_hourly_count_is_not_added_to_our_own_sends() -> None:
    # One process sent 70 this hour; another learns the API's count (70, all ours) in the
    # next minute: that minute still has its whole 100.
    clock = SimClock(start=50.0)
    store = MemoryStore(clock)
    endpoint = EndpointLimit("POST", "shorten", "POST /v4/shorten", per_minute=100, per_hour=1000)
    spec = RateLimitSpec(windows="fixed", endpoints=(endpoint,))
    first = _shared(spec, store, clock)
    second = _shared(spec, store, clock)
    sent: list[float] = []

    async def main() -> None:
        await asyncio.gather(*(_send_to(first, clock, sent) for _ in range(70)))
        await clock.sleep(15.0)  # the next minute
        seen = EndpointLimit(
            "POST", "shorten", "POST /v4/shorten", per_minute=100, per_hour=1000, used_hour=75
        )  # 5 more by someone else
        second.apply(RateLimitSpec(windows="fixed", endpoints=(seen,)))
        await asyncio.gather(*(_send_to(second, clock, sent) for _ in range(120)))

    clock.run(main())
    minute = [t for t in sent if clock.wall_of(60.0) <= t < clock.wall_of(120.0)]
    assert len(minute) == 95  # the minute's 100, less the 5 nobody of ours sent


async def _send_to(budget: RateBudget, clock: SimClock, sent: list[float]) -> None:
    async with budget.slot("POST", "shorten"):
        sent.append(clock.wall())


def test_one_transaction_serves_every_reservation_waiting_in_a_process() -> None:
    clock = SimClock(start=0.0)
    store = MemoryStore(clock)
    budget = _shared(RateLimitSpec(per_minute=1000, windows="fixed"), store, clock)
    _schedule([budget], clock, 50)
    assert store.transactions < 50


def test_a_used_up_month_fails_the_request_and_no_other() -> None:
    clock = SimClock(start=0.0)
    store = MemoryStore(clock)
    spec = RateLimitSpec(per_month=3, windows="fixed")
    budgets = [_shared(spec, store, clock) for _ in range(2)]
    outcomes: list[str] = []

    async def one(budget: RateBudget) -> None:
        try:
            async with budget.slot():
                outcomes.append("sent")
        except QuotaExhausted as exc:
            outcomes.append(exc.message.split(";")[0])

    async def main() -> None:
        await asyncio.gather(*(one(budgets[i % 2]) for i in range(5)))

    clock.run(main())
    assert outcomes.count("sent") == 3
    assert outcomes.count("the monthly limit of 3 requests to app is used up") == 2


@pytest.mark.parametrize("shared", [False, True])
def test_a_backlog_of_many_windows_never_overfills_the_window_it_starts_in(shared: bool) -> None:
    # 200 requests waiting at once (no concurrency cap) fill eight one-second windows in
    # turn. Committing into the later ones must not drop the count of the first, which the
    # requests still waiting start from (it once did: 97 in the first second).
    clock = SimClock(start=0.5)
    spec = RateLimitSpec(per_second=25, windows="fixed")
    store = MemoryStore(clock)
    budget = _shared(spec, store, clock) if shared else RateBudget(spec, clock=clock)
    sent = _schedule([budget], clock, 200)
    per_second = Counter(int(t) for t in sent)
    assert sorted(per_second.values()) == [25] * 8


def _four_calls(
    wait: Callable[[], Awaitable[None]],
) -> tuple[list[str], list[tuple[float, str]]]:
    """`wait()` four times in a row, the third under a 20 s limit: what each did, and the
    long waits announced."""
    notices: list[tuple[float, str]] = []

    async def one(limit: float | None) -> str:
        token = PACING_WAITS.set(PacingWaits(limit, lambda s, r: notices.append((s, r)), 30.0))
        try:
            await wait()
            return "sent"
        except WaitRefused as refused:
            return f"refused {refused.reason}"
        finally:
            PACING_WAITS.reset(token)

    async def main() -> list[str]:
        return [await one(None), await one(None), await one(20.0), await one(None)]

    return asyncio.run(main()), notices


REFUSED_THIRD = ["sent", "sent", "refused the app's rate limit, 2 requests per minute", "sent"]


def test_a_wait_for_a_full_window_is_announced_or_refused_as_in_process() -> None:
    # The call's wait limits (retry.max_wait, --max-wait) hold inside the shared budget
    # too, though its reservations run in a batch of their own.
    clock = FakeClock()
    store = MemoryStore(clock)  # type: ignore[arg-type]
    budget = _shared(RateLimitSpec(concurrency=1, per_minute=2), store, clock)  # type: ignore[arg-type]

    async def through_slot() -> None:
        async with budget.slot():
            pass

    outcomes, notices = _four_calls(through_slot)
    assert outcomes == REFUSED_THIRD
    assert budget.sent == 3  # the refused one was not counted
    assert len(notices) == 1 and notices[0][1] == "the app's rate limit, 2 requests per minute"
    assert 30.0 <= notices[0][0] <= 62.0


@pytest.mark.parametrize("shared", [False, True])
def test_a_full_buckets_wait_is_announced_or_refused_in_both_budgets(shared: bool) -> None:
    # An endpoint bucket's pacing (shorten.dev's creation limit) takes the call's wait
    # limits like the app-wide windows: refused past them, with nothing counted.
    clock = FakeClock()
    spec = RateLimitSpec(concurrency=1, buckets=(("creation", 2, None),))
    store = MemoryStore(clock)  # type: ignore[arg-type]
    budget = _shared(spec, store, clock) if shared else RateBudget(spec, clock=clock)  # type: ignore[arg-type]
    outcomes, notices = _four_calls(lambda: budget.pace_bucket("creation"))
    assert outcomes == REFUSED_THIRD
    assert len(notices) == 1 and 30.0 <= notices[0][0] <= 62.0
    assert clock.sleeps == [notices[0][0]]  # the refused one neither waited nor counted
