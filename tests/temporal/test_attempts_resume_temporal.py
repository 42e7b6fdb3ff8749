"""An item whose attempts 1-3 failed when its worker was lost, run again by Temporal on
another worker (temporalio's ActivityEnvironment, no server): it continues from attempt 4,
so the sandbox sees 5 requests in all, not 3 + 5, and the run log lists all 5."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.engine.rate_budget import RateLimitSpec
from connector.engine.session import engine_session

from ..engine.shorten_box import ShortenBox

pytestmark = pytest.mark.slow

READ = "GET /api/v1/links/{slug}"
DOC: dict[str, Any] = {
    "name": "reads",
    # Waits of 0.4 s: long enough to lose the worker inside one.
    "retry": {"max_attempts": 5, "initial_delay": 0.4, "multiplier": 1, "jitter": 0.0},
    "steps": [
        {
            "id": "each",
            "loop": {"over": "{{ trigger.slugs }}"},
            "action": "shorten_dev.get_link",
            "inputs": {"slug": "{{ item }}"},
        }
    ],
}


def test_a_range_run_again_continues_its_items_attempts(tmp_path: Path) -> None:
    with ShortenBox() as box:
        box.set_faults(error_rate=1.0)  # every attempt fails (500/502/503), retryably
        asyncio.run(_resume(box, tmp_path / "runs.db"))


async def _resume(box: ShortenBox, db: Path) -> None:
    from temporalio.testing import ActivityEnvironment

    from connector.temporal.activities import RunActivities
    from connector.temporal.messages import ItemsCall, RunRequest, StepCall

    catalog = load_catalog()
    base = {"shorten_dev": box.env["SHORTEN_API_URL"]}
    key = {"shorten_dev": box.env["SHORTEN_API_KEY"]}
    limits = {"shorten_dev": RateLimitSpec(concurrency=5)}
    async with engine_session(
        catalog, db, base_urls=base, credentials=key, overrides=limits
    ) as engine:
        activities = RunActivities(engine)
        await ActivityEnvironment().run(
            activities.begin_run, RunRequest("run-1", DOC, None, {"slugs": ["abc1234"]})
        )
        call = StepCall("run-1", 0)
        assert (await ActivityEnvironment().run(activities.start_loop, call)).total == 1

        # The worker is lost after the item's third failed attempt, during the wait.
        lost = ActivityEnvironment()
        task = asyncio.create_task(lost.run(activities.run_items, ItemsCall(call, 0, 1)))
        deadline = time.monotonic() + 30
        while box.count(READ) < 3:
            assert time.monotonic() < deadline and not task.done(), dict(box.app.state.counts)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # its answer is in; the 0.4 s wait is under way
        lost.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert box.count(READ) == 3

        done = await ActivityEnvironment().run(activities.run_items, ItemsCall(call, 0, 1))
        assert (done.ran, done.failed) == (1, 1)
        assert box.count(READ) == 5, "attempts 4 and 5 only: 5 in all, as the policy allows"
        (item,) = engine.runlog.items("run-1", "each")
        assert item.status == "failed"
        assert [a["attempt"] for a in item.attempts] == [1, 2, 3, 4, 5]
        assert all(a["result"] == "failed" for a in item.attempts)
        assert all(a.get("wait") == 0.4 for a in item.attempts[:4])
        # The journal is dropped once the item's row holds the attempts.
        rows = engine.runlog.store.execute("SELECT count(*) FROM call_attempts").fetchone()
        assert rows[0] == 0
