"""The adaptive throttle pause: no wait named by the API and no declared window.

All on simulated time (SimClock). A throttle "names no wait" when its retry_after is one of
the spec's `throttle_defaults` (Bitly's error table fills in 60 s).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import pytest

from connector.engine.rate_budget import ADAPTIVE_START, RateBudget, RateLimitSpec

from .conftest import SimClock

DEFAULT = 60.0  # the error table's retry_after_default


def _budget(clock: SimClock, concurrency: int, per_second: int | None = None) -> RateBudget:
    spec = RateLimitSpec(
        concurrency=concurrency, per_second=per_second, throttle_defaults=frozenset({DEFAULT})
    )
    return RateBudget(spec, clock=clock)


@dataclass
class FixedWindowApi:
    """Allows `limit` requests per clock-aligned window of `period` seconds (as the sandbox
    does) and answers the rest with a throttle naming no wait."""

    clock: SimClock
    limit: int
    period: float = 1.0
    latency: float = 0.005
    #: refuses everything before this (simulated) time
    closed_until: float = -math.inf
    counts: dict[int, int] = field(default_factory=dict)
    sent: list[tuple[float, str, bool]] = field(default_factory=list)  # (time, who, ok)

    async def call(self, budget: RateBudget, who: str) -> bool:
        """One request through the budget, reported as the HTTP layer reports it."""
        async with budget.slot():
            window = math.floor(self.clock.wall() / self.period)
            self.counts[window] = self.counts.get(window, 0) + 1
            ok = self.counts[window] <= self.limit and self.clock.now() >= self.closed_until
            self.sent.append((self.clock.now(), who, ok))
            await self.clock.sleep(self.latency)
        if not ok:
            budget.throttled(DEFAULT)
        return ok


async def _item(api: FixedWindowApi, budget: RateBudget, who: str, attempts: int = 5) -> int:
    """Attempts until success (as the engine: wait for the shared pause); 0 if all failed."""
    for attempt in range(1, attempts + 1):
        if await api.call(budget, who):
            return attempt
        await api.clock.sleep(max(budget.pause_for(DEFAULT), budget.pause_left()))
    return 0


def test_pause_starts_short_doubles_on_consecutive_throttles_and_caps_at_the_default() -> None:
    clock = SimClock()
    budget = _budget(clock, concurrency=5)
    pauses = []
    for _ in range(10):
        budget.throttled(DEFAULT)
        pauses.append(budget.pause_left())
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert ADAPTIVE_START == 0.5
    # A wait the API really named is honoured as given, without touching the adaptive step.
    budget.throttled(300.0)
    assert budget.pause_left() == 300.0
    assert budget.pause_for(DEFAULT) == 60.0


def test_no_default_named_caps_at_the_budget_throttle_pause() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(concurrency=2), clock=clock, throttle_pause=1.5)
    pauses = []
    for _ in range(4):
        budget.throttled(None)
        pauses.append(budget.pause_left())
    assert pauses == [0.5, 1.0, 1.5, 1.5]


def test_a_clean_answer_resets_the_pause() -> None:
    clock = SimClock()
    budget = _budget(clock, concurrency=5)
    api = FixedWindowApi(clock, limit=1, period=10_000.0)
    pauses: list[float] = []

    async def main() -> None:
        for _ in range(3):
            budget.throttled(DEFAULT)
            pauses.append(budget.pause_left())
        assert await api.call(budget, "a")  # waits out the 2 s pause, answered cleanly
        assert not await api.call(budget, "b")  # over the limit: throttled
        pauses.append(budget.pause_left())

    clock.run(main())
    assert pauses == [0.5, 1.0, 2.0, 0.5]


def test_throttles_of_requests_sent_before_the_pause_neither_extend_nor_grow_it() -> None:
    # Five requests in flight together all come back throttled: one burst, one 0.5 s pause.
    clock = SimClock()
    budget = _budget(clock, concurrency=5)
    api = FixedWindowApi(clock, limit=0)
    first_resume: list[float] = []

    async def one(i: int) -> None:
        async with budget.slot():
            await clock.sleep(0.01 * (i + 1))  # answers arrive one after another
        budget.throttled(DEFAULT)
        if not first_resume:
            first_resume.append(budget.resume_at)

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(5)))

    start = clock.now()
    clock.run(main())
    assert budget.throttles == 5
    assert first_resume == [pytest.approx(start + 0.01 + 0.5)]
    assert budget.resume_at == first_resume[0]  # not extended by the later four
    assert budget.pause_for(DEFAULT) == 0.5  # not grown either
    assert api.sent == []


def test_resume_sends_one_probe_at_a_time_while_the_window_stays_closed() -> None:
    # The API refuses everything for 3.2 s, then allows plenty. Five callers.
    clock = SimClock(start=0.0)
    budget = _budget(clock, concurrency=5)
    api = FixedWindowApi(clock, limit=1_000, closed_until=3.2)
    done: list[int] = []

    async def main() -> None:
        async def caller(i: int) -> None:
            done.append(await _item(api, budget, f"c{i}"))

        await asyncio.gather(*(caller(i) for i in range(5)))

    clock.run(main())
    assert all(done), done  # every caller got through within its 5 attempts
    refused = [(t, who) for t, who, ok in api.sent if not ok]
    allowed = [(t, who) for t, who, ok in api.sent if ok]
    # The first burst (five at once), then single probes 0.5, 1 and 2 s apart.
    burst = [t for t, _ in refused if t == refused[0][0]]
    assert len(burst) == 5
    probes = refused[5:]
    gaps = [round(b[0] - a[0], 3) for a, b in zip([refused[4], *probes], probes, strict=False)]
    assert gaps == [0.505, 1.005], gaps
    # No caller probes twice in a row while others wait: the role goes round the line.
    assert len({who for _, who in probes}) == len(probes)
    # The probe after the 2 s pause is answered cleanly; everyone else goes right after it.
    assert len(allowed) == 5
    assert allowed[0][0] == pytest.approx(refused[-1][0] + 0.005 + 2.0)
    assert all(t - allowed[0][0] < 0.01 for t, _ in allowed)


def test_a_named_retry_after_is_honoured_and_resume_still_goes_through_a_probe() -> None:
    clock = SimClock()
    budget = _budget(clock, concurrency=5)
    api = FixedWindowApi(clock, limit=1_000)
    sent_at: list[float] = []

    async def main() -> None:
        budget.throttled(7.0)
        start = clock.now()
        results = await asyncio.gather(*(api.call(budget, str(i)) for i in range(4)))
        assert all(results)
        sent_at.extend(t - start for t, _, _ in api.sent)

    clock.run(main())
    assert sent_at[0] == pytest.approx(7.0)
    # The other three wait for the probe's answer (its 5 ms), not all at the resume instant.
    assert all(t == pytest.approx(7.005) for t in sent_at[1:])


def test_a_declared_window_keeps_the_boundary_rule() -> None:
    clock = SimClock(start=10.25)  # a quarter second into a clock-aligned second
    budget = _budget(clock, concurrency=5, per_second=20)
    budget.throttled(DEFAULT)
    assert budget.pause_left() == pytest.approx(0.75 + 0.02)  # the next second, plus margin
    budget.throttled(DEFAULT)
    assert budget.pause_left() == pytest.approx(0.75 + 0.02)  # never doubled


def test_400_items_against_20_per_second_without_a_declared_window() -> None:
    # The benchmark's case on simulated time: fixed one-second windows of 20, five callers,
    # each item up to five attempts. Each window is used; pauses stay at a second or less.
    clock = SimClock(start=1_000.3)
    budget = _budget(clock, concurrency=5)
    api = FixedWindowApi(clock, limit=20)
    results: list[int] = []

    async def main() -> None:
        queue = list(range(400))

        async def worker(w: int) -> None:
            while queue:
                i = queue.pop()
                results.append(await _item(api, budget, f"w{w}/{i}"))

        await asyncio.gather(*(worker(w) for w in range(5)))

    start = clock.now()
    clock.run(main())
    duration = clock.now() - start
    assert len(results) == 400 and all(results), "an item ran out of attempts"
    assert duration <= 22.0, duration  # 20 windows of 20 are the floor
    assert budget.throttles <= 150, budget.throttles  # a burst of ~5 per window, and probes
    assert budget.pause_for(DEFAULT) <= 1.0


def test_a_per_minute_limit_without_a_declared_window_fails_no_item() -> None:
    # A minute-long window with nothing declared: pauses grow 0.5, 1, 2 ... 32 s until it
    # reopens; each probe is a different caller, so nobody spends five attempts on probes.
    clock = SimClock(start=0.0)
    budget = _budget(clock, concurrency=5)
    api = FixedWindowApi(clock, limit=25, period=60.0)
    results: list[int] = []

    async def main() -> None:
        queue = list(range(60))

        async def worker(w: int) -> None:
            while queue:
                i = queue.pop()
                results.append(await _item(api, budget, f"w{w}/{i}"))

        await asyncio.gather(*(worker(w) for w in range(5)))

    clock.run(main())
    assert len(results) == 60 and all(results), results
    assert max(results) <= 4
    assert clock.now() < 3 * 60 + 40  # three windows, each entered within ~32 s of opening
    assert budget.throttles <= 40
