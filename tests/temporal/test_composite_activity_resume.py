"""A loop item running a composite (Campaign Performance Report) whose first request fails 503
every time: the activity's worker is lost after the request's third try, and Temporal runs the
activity again (attempt 2, temporalio's ActivityEnvironment, no server). The request is sent
twice more only: the Bitly sandbox counts 5 in all, as the policy allows, and once the item is
recorded no journal row of the call or of its request is left. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.engine.rate_budget import RateLimitSpec
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox.config import DEMO_BITLY_TOKEN

from ..engine.failing_bitly import CAMPAIGN, FailingBitly, failing_bitly

pytestmark = pytest.mark.slow

DOC: dict[str, Any] = {
    "name": "reports",
    # Waits of 0.4 s: long enough to lose the worker inside one.
    "retry": {"max_attempts": 5, "initial_delay": 0.4, "multiplier": 1, "jitter": 0.0},
    "steps": [
        {
            "id": "each",
            "loop": {"over": "{{ trigger.campaigns }}"},
            "action": "bitly.campaign_performance_report",
            "inputs": {"campaign_guid": "{{ item }}"},
        }
    ],
}


def test_a_composite_run_again_continues_its_requests_tries(
    runlog_target: Path | str,
) -> None:
    with failing_bitly() as bitly:
        asyncio.run(_continue(runlog_target, bitly))


async def _continue(db: Path | str, bitly: FailingBitly) -> None:
    # Imported here, not at collection (see test_activity_resume.py).
    from temporalio.testing import ActivityEnvironment

    from connector.temporal.activities import RunActivities
    from connector.temporal.messages import ItemsCall, RunRequest, StepCall
    from connector.temporal.run_start import record_run

    url, sent = bitly.url, bitly.reads
    catalog = load_catalog()
    async with engine_session(
        catalog, db, base_urls={"bitly": url}, credentials={"bitly": DEMO_BITLY_TOKEN},
        overrides={"bitly": RateLimitSpec(concurrency=5, learn=False)},
    ) as engine:  # fmt: skip
        activities = RunActivities(engine)
        trigger = {"campaigns": [CAMPAIGN]}
        record_run(db, "run-1", validate_workflow(DOC, catalog), trigger)
        await ActivityEnvironment().run(activities.begin_run, RunRequest("run-1"))
        call = StepCall("run-1", 0)
        assert (await ActivityEnvironment().run(activities.start_loop, call)).total == 1

        # The worker is lost after the request's third failed try, during the wait.
        lost = ActivityEnvironment()
        task = asyncio.create_task(lost.run(activities.run_items, ItemsCall(call, 0, 1)))
        deadline = time.monotonic() + 60
        while sent() < 3:
            assert time.monotonic() < deadline and not task.done(), dict(bitly.app.state.counts)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # its answer is in; the 0.4 s wait is under way
        lost.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert sent() == 3

        again = ActivityEnvironment()
        again.info = dataclasses.replace(again.info, attempt=2)
        done = await again.run(activities.run_items, ItemsCall(call, 0, 1))
        assert (done.ran, done.failed) == (1, 1)
        assert sent() == 5, "tries 4 and 5 only: 5 in all, as the policy allows"
        (item,) = engine.runlog.items("run-1", "each")
        assert item.status == "failed" and item.error is not None
        assert item.error["status"] == 503
        tries = [[(t["try"], t["result"]) for t in a["requests"]] for a in item.attempts]
        assert tries == [
            [(1, "failed"), (2, "failed"), (3, "failed")],
            [(4, "failed"), (5, "failed")],
        ]
        # The journal is dropped once the item's row holds the attempts: the request's too.
        rows = engine.runlog.store.execute("SELECT count(*) FROM call_attempts").fetchone()
        assert rows[0] == 0
