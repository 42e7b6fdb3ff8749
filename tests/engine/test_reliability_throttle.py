"""Throttling and quotas against a rate-limited Bitly sandbox over loopback.

The sandbox is limited more tightly than the Bitly manifest's declared budget, so the
engine really is throttled (Bitly answers 403 RATE_LIMIT_EXCEEDED with X-Ratelimit-Reason
and no Retry-After). The per-minute test shares one simulated clock between the sandbox's
rate windows and the engine, so minutes of API time pass in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.catalog import load_catalog
from connector.engine.executor import Engine, RunResult
from connector.engine.rate_budget import ADAPTIVE_START, RateBudget, RateLimitSpec
from connector.engine.runlog import ItemRecord
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SEED, SandboxConfig
from connector.sandbox.controls import Controls, Limits
from connector.sandbox.server import BackgroundServer

from .conftest import SimClock

pytestmark = pytest.mark.slow

FAST_RETRY = {"max_attempts": 5, "initial_delay": 0.005, "multiplier": 2, "max_delay": 0.02}
SHORTEN_KEY = "POST /v4/shorten"


def _shorten_doc(batch_size: int = 5, on_item_error: str = "stop") -> dict[str, Any]:
    return {
        "name": "shorten many",
        "retry": FAST_RETRY,
        "steps": [
            {
                "id": "each",
                "loop": {
                    "over": "{{ trigger.items }}",
                    "batch_size": batch_size,
                    "on_item_error": on_item_error,
                },
                "action": "bitly.shorten_link",
                "inputs": {"long_url": "{{ item }}"},
            }
        ],
    }


def _urls(tag: str, n: int) -> list[str]:
    return [f"https://example.com/{tag}/{i:03d}" for i in range(n)]


class _Bitly:
    def __init__(self, limits: Limits, now: Any = None) -> None:
        config = SandboxConfig(seed=DEMO_SEED, controls=Controls(limits=limits))
        if now is not None:
            config.now = now
        self.app = bitly.create_app(config)
        self.server = BackgroundServer(self.app)

    def __enter__(self) -> _Bitly:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.app.state.counts)


@pytest.fixture
def catalog() -> Any:
    return load_catalog()


def _session(catalog: Any, home: Path, box: _Bitly, clock: Any = None, **kw: Any) -> Any:
    return engine_session(
        catalog,
        home / "runs.db",
        base_urls={"bitly": box.server.url + "/v4"},
        credentials={"bitly": DEMO_BITLY_TOKEN},
        clock=clock,
        rng=random.Random(1),
        **kw,
    )


def _items(engine: Engine, result: RunResult) -> list[ItemRecord]:
    return list(engine.runlog.items(result.run_id, "each"))


def _throttles(items: list[ItemRecord]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(throttled attempt, the attempt after it) pairs."""
    pairs = []
    for item in items:
        for a, b in zip(item.attempts, item.attempts[1:], strict=False):
            if a.get("status") == 403:
                pairs.append((a, b))
    return pairs


class _CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests under way, so simulated time stands still while one is."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.inflight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.inflight += 1
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.inflight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_per_minute_throttle_waits_for_the_next_window_and_completes(
    tmp_path: Path, catalog: Any
) -> None:
    # The manifest declares 100/min (a burst of 50, then paced); the sandbox allows 15/min,
    # so the engine is throttled: 403 RATE_LIMIT_EXCEEDED, X-Ratelimit-Reason, no Retry-After.
    transport = _CountingTransport()
    # half a minute into a clock-aligned minute
    clock = SimClock(start=30.0, busy=lambda: transport.inflight > 0)
    urls = _urls("pm", 40)
    workflow = validate_workflow(_shorten_doc(), catalog)
    with _Bitly(Limits(per_minute=15), now=clock.wall) as box:

        async def go() -> tuple[RunResult, list[ItemRecord], Any]:
            async with _session(catalog, tmp_path, box, clock, transport=transport) as engine:
                result = await engine.run(workflow, {"items": urls})
                return result, _items(engine, result), engine.budgets["bitly"]

        result, items, budget = clock.run(go())
        counts = box.counts
    assert result.ok, result.error
    assert [i.status for i in items] == ["succeeded"] * 40
    assert max(len(i.attempts) for i in items) <= 5
    # Throttled for real, and every throttle the sandbox answered reached the shared budget.
    assert budget.throttles >= 1
    assert counts[SHORTEN_KEY] == 40 + budget.throttles
    pairs = _throttles(items)
    assert len(pairs) == budget.throttles
    for throttled, retried in pairs:
        assert throttled["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        # The wait ends when the next minute opens (plus a 1 s margin), not after the error
        # table's 60 s default, and the retry lands in a later minute than the throttle.
        minute = throttled["started_at"] // 60
        assert 0 < throttled["wait"] <= 61.0
        assert retried["started_at"] // 60 > minute
        assert retried["started_at"] - throttled["ended_at"] <= 62.0
    # Paced: 15 in the first half minute, 15 in the next, 10 in the third; a fixed 60 s wait
    # per throttle (the old behaviour) took 232 s of API time.
    assert 90.0 <= result.duration < 125.0
    assert budget.throttles <= 8, "no hammering of a closed window"


def test_per_second_throttle_recovers_within_a_second(tmp_path: Path, catalog: Any) -> None:
    # Real time. A deployment that declares a per-second window (here 20/s, looser than the
    # sandbox's 10/s) is throttled; each pause lasts until the next second, not 60 s.
    urls = _urls("ps", 25)
    workflow = validate_workflow(_shorten_doc(), catalog)
    spec = RateLimitSpec(concurrency=5, per_second=20)
    with _Bitly(Limits(per_second=10)) as box:

        async def go() -> tuple[RunResult, list[ItemRecord], Any]:
            async with _session(catalog, tmp_path, box, overrides={"bitly": spec}) as engine:
                result = await engine.run(workflow, {"items": urls})
                return result, _items(engine, result), engine.budgets["bitly"]

        result, items, budget = asyncio.run(go())
        counts = box.counts
    assert result.ok, result.error
    assert budget.throttles >= 1
    assert counts[SHORTEN_KEY] == 25 + budget.throttles
    waits = [a["wait"] for a, _ in _throttles(items)]
    assert waits and all(0 < w <= 1.1 for w in waits), waits
    assert result.duration < 6.0


def test_monthly_quota_fails_the_loop_fast_without_retries(tmp_path: Path, catalog: Any) -> None:
    urls = _urls("quota", 30)
    workflow = validate_workflow(_shorten_doc(batch_size=5), catalog)
    # Limits given outright, so nothing is read from the API and the plan is not checked
    # first (test_sandbox_runs.py has that case): the quota runs out during the loop.
    given = {"bitly": RateLimitSpec(concurrency=5, per_minute=100, per_hour=1000)}
    with _Bitly(Limits(monthly_quota=12)) as box:

        async def go() -> tuple[RunResult, list[ItemRecord]]:
            async with _session(catalog, tmp_path, box, overrides=given) as engine:
                result = await engine.run(workflow, {"items": urls})
                return result, _items(engine, result)

        result, items = asyncio.run(go())
        counts = box.counts
    assert result.status == "failed" and result.failed_step == "each"
    error = result.error or {}
    assert error["kind"] == "quota_exhausted"
    assert error["code"] == "MONTHLY_RATE_LIMIT_EXCEEDED"
    assert "will not reopen" in error["message"]
    by_status = Counter(i.status for i in items)
    assert by_status["succeeded"] == 12
    failed = [i for i in items if i.status == "failed"]
    # Fail fast: each refused item made exactly one request and waited for nothing; the
    # loop stopped starting new items, and the sandbox saw nothing but those requests.
    assert failed and all(len(i.attempts) == 1 for i in failed)
    assert all("wait" not in a for i in items for a in i.attempts)
    assert by_status["skipped"] == 30 - 12 - len(failed) > 0
    assert counts[SHORTEN_KEY] == 12 + len(failed)


def test_throttle_pause_honours_a_named_wait_and_guesses_only_for_defaults() -> None:
    clock = SimClock(start=10.0)  # wall clock 10 s into a minute
    spec = RateLimitSpec(per_minute=100, throttle_defaults=frozenset({60.0}))
    budget = RateBudget(spec, clock=clock)
    assert budget.pause_for(60.0) == pytest.approx(51.0)  # default: until 1 s past the minute
    assert budget.pause_for(None) == pytest.approx(51.0)
    assert budget.pause_for(120.0) == 120.0  # a real Retry-After is honoured as given
    assert budget.pause_for(7.0) == 7.0
    unwindowed = RateBudget(RateLimitSpec(concurrency=5, throttle_defaults=spec.throttle_defaults))
    # No declared window: no boundary to wait for, so an adaptive pause starting short
    # (tests/engine/test_rate_budget_adaptive.py), not the 60 s default.
    assert unwindowed.pause_for(60.0) == ADAPTIVE_START
    assert unwindowed.pause_for(120.0) == 120.0
