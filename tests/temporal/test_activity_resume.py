"""What an activity does when Temporal runs it again after its worker was lost, without a
server (temporalio's ActivityEnvironment): it resumes from the run log. Items recorded by
the lost execution are not run again; a write cut off in flight (an intent with no outcome)
is read back before anything is resent; an item cut off mid-retry continues its attempts
(5 in all, not 3 + 5); Temporal's attempt counter is never consulted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from connector.catalog import load_catalog
from connector.engine.rate_budget import RateLimitSpec
from connector.engine.session import engine_session

from ..engine.shorten_box import ShortenBox

if TYPE_CHECKING:
    from temporalio.testing import ActivityEnvironment

    from connector.temporal.activities import RunActivities

pytestmark = pytest.mark.slow

PREFIX = "https://example.com/resume/"
URLS = [f"{PREFIX}{i:02d}" for i in range(20)]
DOC: dict[str, Any] = {
    "name": "links",
    "retry": {"max_attempts": 5, "initial_delay": 0.005, "multiplier": 2, "max_delay": 0.02},
    "steps": [
        {
            "id": "each",
            "loop": {"over": "{{ trigger.urls }}", "batch_size": 5},
            "action": "shorten_dev.create_link",
            "inputs": {"destination_url": "{{ item }}"},
        }
    ],
}


READ = "GET /api/v1/links/{slug}"
READS: dict[str, Any] = {
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


def test_a_range_run_again_resumes_from_the_run_log(tmp_path: Path) -> None:
    with ShortenBox() as box:
        box.set_faults(latency_ms=150)
        asyncio.run(_resume(box, tmp_path / "runs.db"))


@contextlib.asynccontextmanager
async def _worker(box: ShortenBox, db: Path) -> AsyncIterator[RunActivities]:
    """The activities as a worker holds them, on its engine."""
    # Imported here, not at collection: temporalio grows the pytest process by ~20 MB,
    # and every CLI child forked from it reports that peak too (tests/hostile).
    from connector.temporal.activities import RunActivities

    catalog = load_catalog()
    base = {"shorten_dev": box.env["SHORTEN_API_URL"]}
    key = {"shorten_dev": box.env["SHORTEN_API_KEY"]}
    limits = {"shorten_dev": RateLimitSpec(concurrency=5)}
    async with engine_session(
        catalog, db, base_urls=base, credentials=key, overrides=limits
    ) as engine:
        yield RunActivities(engine)


def _again() -> ActivityEnvironment:
    """Where Temporal runs an activity again after its worker was lost: attempt 2."""
    from temporalio.testing import ActivityEnvironment

    again = ActivityEnvironment()
    again.info = dataclasses.replace(again.info, attempt=2)
    return again


async def _resume(box: ShortenBox, db: Path) -> None:
    from temporalio.testing import ActivityEnvironment

    from connector.temporal.items import finished_indexes
    from connector.temporal.messages import ItemsCall, RunEnd, RunRequest, StepCall

    async with _worker(box, db) as activities:
        engine = activities.engine
        run = RunRequest("run-1", DOC, None, {"urls": URLS})
        await ActivityEnvironment().run(activities.begin_run, run)
        # Its life is the workflow's, not this worker's: never read as interrupted.
        assert engine.runlog.get_run("run-1").pid is None
        call = StepCall("run-1", 0)
        start = await ActivityEnvironment().run(activities.start_loop, call)
        assert (start.status, start.total) == ("run", 20)

        # The first execution is lost with writes in flight (a worker killed mid-range).
        lost = ActivityEnvironment()
        task = asyncio.create_task(lost.run(activities.run_items, ItemsCall(call, 0, 20)))
        deadline = time.monotonic() + 30
        while len(finished_indexes(engine.runlog, "run-1", "each", 0, 20)) < 6:
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.01)
        lost.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        recorded = finished_indexes(engine.runlog, "run-1", "each", 0, 20)
        cut_off = {w.index for w in engine.runlog.intents.open_in("run-1")}
        assert cut_off and not cut_off & recorded
        await asyncio.sleep(0.5)  # what was in flight has landed (or not) by now
        sent_before = box.count("POST /api/v1/links")

        # Temporal runs the activity again, on another worker: it resumes.
        done = await _again().run(activities.run_items, ItemsCall(call, 0, 20))
        assert done.skipped == len(recorded) and done.ran == 20 - len(recorded)
        assert done.failed == 0
        items = {i.index: i for i in engine.runlog.items("run-1", "each")}
        assert sorted(items) == list(range(20))
        check_of: dict[int, dict[str, Any]] = {}
        for idx in cut_off:
            # The attempt cut off is listed (and counted); then, before anything was sent,
            # the write was read back, and sent again only if it had not landed.
            cut, check = items[idx].attempts[:2]
            assert (cut["attempt"], cut["result"]) == (1, "lost"), items[idx].attempts
            assert (check["attempt"], check.get("call")) == (2, "reconcile"), items[idx].attempts
            check_of[idx] = check
        resent = box.count("POST /api/v1/links") - sent_before
        assert resent == 20 - len(recorded) - sum(
            1 for check in check_of.values() if check["result"] == "reconciled"
        )
        # One link per URL, each the output the run log holds for its item.
        links = box.links(PREFIX)
        assert Counter(dest for _, dest, _ in links) == Counter(URLS)
        slug_of = {dest: slug for slug, dest, _ in links}
        for idx, item in items.items():
            assert item.output["link"]["slug"] == slug_of[URLS[idx]]

        # Finishing the loop and the run is idempotent too (run again after a lost worker).
        for _ in range(2):
            finished = await ActivityEnvironment().run(activities.finish_loop, call)
            assert finished.status == "succeeded"
        end = await ActivityEnvironment().run(activities.finish_run, RunEnd("run-1", "succeeded"))
        assert end.status == "succeeded"
        run_row = engine.runlog.get_run("run-1")
        assert run_row.status == "succeeded"
        assert run_row.output["summary"] == {
            "total": 20, "succeeded": 20, "failed": 0, "skipped": 0,
        }  # fmt: skip
        assert list(run_row.output["items"]) == [items[i].output for i in range(20)]


def test_a_range_run_again_continues_its_items_attempts(tmp_path: Path) -> None:
    with ShortenBox() as box:
        box.set_faults(error_rate=1.0)  # every attempt fails (500/502/503), retryably
        asyncio.run(_continue(box, tmp_path / "runs.db"))


async def _continue(box: ShortenBox, db: Path) -> None:
    from temporalio.testing import ActivityEnvironment

    from connector.temporal.messages import ItemsCall, RunRequest, StepCall

    async with _worker(box, db) as activities:
        engine = activities.engine
        await ActivityEnvironment().run(
            activities.begin_run, RunRequest("run-1", READS, None, {"slugs": ["abc1234"]})
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

        done = await _again().run(activities.run_items, ItemsCall(call, 0, 1))
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
