"""Issue 7 leftover: a wait inside the rate budget (a full window) is a wait like a retry's:
announced as it starts when it is LONG_WAIT or more, and refused past `retry.max_wait` /
`--max-wait` (the item fails as throttled, nothing sent, nothing counted). Simulated clock.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from connector.clock import FakeClock
from connector.engine.attempts import LONG_WAIT, call_action
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.retry_policy import RetryPolicy
from connector.errors import Throttled

ACTION = SimpleNamespace(id="bitly.get_bitlink", idempotent=True, reconcile=None)


class Mid:
    def random(self) -> float:
        return 0.5


class ThroughBudget:
    """A runner whose every call is one request through the budget's slot, as the HTTP
    layer sends it."""

    def __init__(self, budget: RateBudget) -> None:
        self.budget = budget
        self.sent = 0

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        async with self.budget.slot("GET", "bitlinks/bit.ly/x"):
            self.sent += 1
        return {"ok": self.sent}

    async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return None


def _calls(n: int, policy: RetryPolicy, max_wait: float | None = None) -> tuple[Any, ...]:
    clock = FakeClock()
    budget = RateBudget(RateLimitSpec(concurrency=1, per_minute=2), clock=clock)
    runner = ThroughBudget(budget)
    notices: list[tuple[float, str]] = []

    async def go() -> list[Any]:
        return [
            await call_action(
                action=ACTION, runner=runner, inputs={}, policy=policy, clock=clock,
                rng=Mid(), where=f"steps.links[{i}]", budget=budget, max_wait=max_wait,
                on_wait=lambda seconds, reason: notices.append((seconds, reason)),
            )
            for i in range(n)
        ]  # fmt: skip

    return asyncio.run(go()), notices, clock, runner, budget


def test_a_long_wait_for_a_full_window_is_announced_as_it_starts() -> None:
    outcomes, notices, clock, _, _ = _calls(3, RetryPolicy())
    assert [o.output for o in outcomes] == [{"ok": 1}, {"ok": 2}, {"ok": 3}]
    assert len(notices) == 1  # the third waits for the minute (a sliding window: ~61 s)
    seconds, reason = notices[0]
    assert LONG_WAIT <= seconds <= 62 and max(clock.sleeps) == seconds
    assert reason == "the app's rate limit, 2 requests per minute"


def test_a_wait_for_a_full_window_past_max_wait_fails_the_item_unsent() -> None:
    for policy, cap in ((RetryPolicy(max_wait=20), None), (RetryPolicy(), 20.0)):
        outcomes, notices, clock, runner, budget = _calls(3, policy, cap)
        assert [o.ok for o in outcomes] == [True, True, False]
        error = outcomes[2].error
        assert isinstance(error, Throttled) and error.write_applied is False
        message = str(error)
        assert message.startswith("steps.links[2]: the rate budget would wait 6")
        assert "(the app's rate limit, 2 requests per minute)" in message
        assert "longer than the 20 s this run accepts (max_wait)" in message
        assert outcomes[2].attempts[0]["refused_wait"] > 20
        assert runner.sent == 2 and budget.sent == 2  # refused before it was counted
        assert notices == [] and clock.sleeps == []
        assert budget._semaphore is not None and not budget._semaphore.locked()


def test_short_pacing_waits_are_neither_announced_nor_refused() -> None:
    outcomes, notices, _, runner, _ = _calls(2, RetryPolicy(max_wait=20))
    assert all(o.ok for o in outcomes) and notices == [] and runner.sent == 2
