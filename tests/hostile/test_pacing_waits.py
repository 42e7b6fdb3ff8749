"""Issue 7 leftover: a wait inside the rate budget (a full window, app-wide or an endpoint
bucket's) is a wait like a retry's: announced as it starts when it is LONG_WAIT or more, and
refused past `retry.max_wait` / `--max-wait` (the item fails as throttled, nothing sent,
nothing counted). Simulated clock.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from connector.catalog import load_catalog
from connector.clock import FakeClock
from connector.engine.attempts import LONG_WAIT, call_action
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.retry_policy import RetryPolicy
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.errors import Throttled
from connector.sandbox.config import DEMO_SHORTEN_KEY
from tests.engine.shorten_box import ShortenBox

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


#: 2 requests a minute app-wide; or in the "creation" bucket only (shorten.dev's kind)
APP_WIDE = RateLimitSpec(concurrency=1, per_minute=2)
BUCKET = RateLimitSpec(concurrency=1, buckets=(("creation", 2, None),))


def _calls(
    n: int,
    policy: RetryPolicy,
    max_wait: float | None = None,
    *,
    bucket_cost: int | None = None,
) -> tuple[Any, ...]:
    """`n` calls one after another; with `bucket_cost`, each paced in the bucket first."""
    clock = FakeClock()
    budget = RateBudget(APP_WIDE if bucket_cost is None else BUCKET, clock=clock)
    runner = ThroughBudget(budget)
    notices: list[tuple[float, str]] = []
    pace = None if bucket_cost is None else partial(budget.pace_bucket, "creation", bucket_cost)

    async def go() -> list[Any]:
        return [
            await call_action(
                action=ACTION, runner=runner, inputs={}, policy=policy, clock=clock,
                rng=Mid(), where=f"steps.links[{i}]", budget=budget, max_wait=max_wait,
                on_wait=lambda seconds, reason: notices.append((seconds, reason)), pace=pace,
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


# -- an endpoint bucket's pacing (rate_limit.bucket: shorten.dev's creation limit) ----------


def test_a_full_buckets_wait_is_announced_as_it_starts() -> None:
    outcomes, notices, clock, runner, _ = _calls(3, RetryPolicy(), bucket_cost=1)
    assert all(o.ok for o in outcomes) and runner.sent == 3
    assert len(notices) == 1
    seconds, reason = notices[0]
    assert LONG_WAIT <= seconds <= 62 and max(clock.sleeps) == seconds
    assert reason == "the app's rate limit, 2 requests per minute"


def test_a_full_buckets_wait_past_max_wait_fails_the_item_unsent_and_uncounted() -> None:
    for policy, cap in ((RetryPolicy(max_wait=20), None), (RetryPolicy(), 20.0)):
        outcomes, notices, clock, runner, budget = _calls(3, policy, cap, bucket_cost=1)
        assert [o.ok for o in outcomes] == [True, True, False]
        error = outcomes[2].error
        assert isinstance(error, Throttled) and error.write_applied is False
        assert str(error).startswith("steps.links[2]: the rate budget would wait 6")
        assert "longer than the 20 s this run accepts (max_wait)" in str(error)
        assert outcomes[2].attempts[0]["refused_wait"] > 20
        assert runner.sent == 2 and notices == [] and clock.sleeps == []
        assert len(budget._buckets["creation"][0].log) == 2  # the refused one left no count


def test_a_cost_larger_than_the_bucket_is_capped_by_its_whole_wait() -> None:
    """3 requests into a bucket of 2 a minute: the first two fit now, the third a minute
    later; the call's wait is the third's, so a 20 s cap refuses it before anything goes."""
    outcomes, _, clock, runner, budget = _calls(1, RetryPolicy(max_wait=20), bucket_cost=3)
    assert not outcomes[0].ok and isinstance(outcomes[0].error, Throttled)
    assert runner.sent == 0 and clock.sleeps == []
    assert len(budget._buckets["creation"][0].log) == 0


def test_a_bucket_wait_in_a_run_is_capped_by_max_wait(tmp_path: Path) -> None:
    """Through the engine: shorten.dev's creation bucket, narrowed to 2 a minute, and a run
    with --max-wait 20 creating 3 links: 2 are sent, the third fails throttled, unsent."""
    catalog = load_catalog()
    doc = {
        "name": "three links",
        "steps": [
            {
                "id": "links",
                "loop": {"over": "{{ trigger.urls }}", "batch_size": 1,
                         "on_item_error": "continue"},
                "action": "shorten_dev.create_link",
                "inputs": {"destination_url": "{{ item }}"},
            }
        ],
    }  # fmt: skip
    workflow = validate_workflow(doc, catalog)
    urls = [f"https://example.com/bucket/{i}" for i in range(3)]
    spec = RateLimitSpec(concurrency=5, buckets=(("creation", 2, None),), learn=False)
    with ShortenBox() as box:

        async def go() -> list[Any]:
            async with engine_session(
                catalog,
                tmp_path / "runs.db",
                base_urls={"shorten_dev": box.server.url + "/api/v1"},
                credentials={"shorten_dev": DEMO_SHORTEN_KEY},
                overrides={"shorten_dev": spec},
                clock=FakeClock(),
                env={},
                max_wait=20,
            ) as engine:
                result = await engine.run(workflow, {"urls": urls})
                return list(engine.runlog.items(result.run_id, "links"))

        items = asyncio.run(go())
        assert [i.status for i in items] == ["succeeded", "succeeded", "failed"]
        error = items[2].error or {}
        assert error["kind"] == "throttled"
        assert "the rate budget would wait" in error["message"]
        assert "(the app's rate limit, 2 requests per minute)" in error["message"]
        assert [dest for _, dest, _ in box.links("https://example.com/bucket/")] == urls[:2]
