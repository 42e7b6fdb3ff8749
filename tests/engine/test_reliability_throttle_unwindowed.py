"""Throttling over loopback when the engine knows no rate window at all.

The budget has only a concurrency cap, as the reactive benchmark runs; the sandbox allows
10 requests per second and throttles the rest as Bitly does (403 RATE_LIMIT_EXCEEDED, no
Retry-After, so the error table's 60 s default is what the engine is told). The pause must
adapt (short, doubling only while the window stays closed) instead of stalling everyone for
the 60 s default. Real time: the whole run takes a few seconds.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.engine.executor import RunResult
from connector.engine.rate_budget import RateLimitSpec
from connector.engine.runlog import ItemRecord
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SEED, SandboxConfig
from connector.sandbox.controls import Controls, Limits
from connector.sandbox.server import BackgroundServer

pytestmark = pytest.mark.slow

SHORTEN_KEY = "POST /v4/shorten"
ITEMS = 30
PER_SECOND = 10
FAST_RETRY = {"max_attempts": 5, "initial_delay": 0.005, "multiplier": 2, "max_delay": 0.02}


def test_per_second_throttle_without_a_declared_window_pauses_briefly(tmp_path: Path) -> None:
    catalog = load_catalog()
    workflow = validate_workflow(
        {
            "name": "shorten many, limits unknown",
            "retry": FAST_RETRY,
            "steps": [
                {
                    "id": "each",
                    "loop": {"over": "{{ trigger.items }}", "batch_size": 5},
                    "action": "bitly.shorten_link",
                    "inputs": {"long_url": "{{ item }}"},
                }
            ],
        },
        catalog,
    )
    urls = [f"https://example.com/unwindowed/{i:03d}" for i in range(ITEMS)]
    app = bitly.create_app(
        SandboxConfig(seed=DEMO_SEED, controls=Controls(limits=Limits(per_second=PER_SECOND)))
    )
    spec = RateLimitSpec(concurrency=5)  # no per-second, per-minute or per-hour window

    with BackgroundServer(app) as server:

        async def go() -> tuple[RunResult, list[ItemRecord], Any]:
            async with engine_session(
                catalog,
                tmp_path / "runs.db",
                base_urls={"bitly": server.url + "/v4"},
                credentials={"bitly": DEMO_BITLY_TOKEN},
                overrides={"bitly": spec},
                rng=random.Random(1),
            ) as engine:
                result = await engine.run(workflow, {"items": urls})
                items = list(engine.runlog.items(result.run_id, "each"))
                return result, items, engine.budgets["bitly"]

        result, items, budget = asyncio.run(go())
        counts = Counter(app.state.counts)

    assert result.ok, result.error
    assert [i.status for i in items] == ["succeeded"] * ITEMS
    # Throttled for real, and the engine was told of every throttle the sandbox answered.
    assert budget.throttles >= 1
    assert counts[SHORTEN_KEY] == ITEMS + budget.throttles
    throttled = [a for i in items for a in i.attempts if a.get("status") == 403]
    assert len(throttled) == budget.throttles
    assert all(a["error"]["code"] == "RATE_LIMIT_EXCEEDED" for a in throttled)
    # The engine was told "60 s" (the error table's default) and paused far less: the
    # adaptive pause starts at 0.5 s and here needs at most one doubling per window.
    waits = [a["wait"] for a in throttled]
    assert waits and max(waits) <= 2.1, waits
    # A modest number of throttles: a burst per window (the requests already in flight when
    # it filled) and a probe or two, not a flood at every resume.
    windows = -(-ITEMS // PER_SECOND)
    assert budget.throttles <= 8 * windows, budget.throttles
    # 30 items at 10/s: three windows; with 60 s pauses this took over two minutes.
    assert result.duration < 6.0, result.duration
