"""A worker's activities serving two runs in turn (temporalio's ActivityEnvironment, no
server), the first with limits far tighter than the API's: the second is paced by the
API's figures only, the first never exceeds its own (connector/engine/run_limits.py).
Against the Bitly sandbox in process, on simulated time: nothing really waits."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from connector.catalog import load_catalog
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Limits

from ..engine.conftest import SimClock
from ..engine.pacing_sim import SHORTEN, RecordingTransport, shorten_loop


def _per_minute(times: list[float]) -> Counter[int]:
    return Counter(int(t // 60.0) for t in times)


def test_a_workers_second_run_is_not_paced_by_the_first_runs_limits(tmp_path: Path) -> None:
    from temporalio.testing import ActivityEnvironment

    from connector.temporal.activities import RunActivities
    from connector.temporal.messages import ItemsCall, RunEnd, RunRequest, StepCall
    from connector.temporal.run_start import record_run

    clock = SimClock(start=0.0)
    app = bitly.create_app(
        SandboxConfig(controls=Controls(limits=Limits(per_hour=1000)), now=clock.wall)
    )
    transport = RecordingTransport(app, clock)
    clock.busy = lambda: transport.inflight > 0
    catalog = load_catalog()
    db = tmp_path / "runs.db"
    tight = validate_workflow(shorten_loop({"bitly": {"per_minute": 5}}), catalog)
    free = validate_workflow(shorten_loop(), catalog)
    marks: dict[str, tuple[int, int]] = {}

    async def run(activities: Any, run_id: str, workflow: Any, n: int) -> None:
        urls = [f"https://e.com/{run_id}/{i}" for i in range(n)]
        record_run(db, run_id, workflow, {"items": urls})
        first = len(transport.log)
        await ActivityEnvironment().run(activities.begin_run, RunRequest(run_id))
        call = StepCall(run_id, 0)
        assert (await ActivityEnvironment().run(activities.start_loop, call)).total == n
        done = await ActivityEnvironment().run(activities.run_items, ItemsCall(call, 0, n))
        assert done.failed == 0
        assert (await ActivityEnvironment().run(activities.finish_loop, call)).status == (
            "succeeded"
        )
        end = await ActivityEnvironment().run(activities.finish_run, RunEnd(run_id, "succeeded"))
        assert end.status == "succeeded"
        marks[run_id] = (first, len(transport.log))

    async def worker() -> None:
        async with engine_session(
            catalog,
            db,
            base_urls={"bitly": "http://runlimits.sandbox.test/v4"},
            credentials={"bitly": DEMO_BITLY_TOKEN},
            transport=transport,
            clock=clock,
            rng=random.Random(1),
            env={},
        ) as engine:
            activities = RunActivities(engine)
            await run(activities, "run-tight", tight, 12)
            await run(activities, "run-free", free, 150)
            assert len(engine.run_limits) == 0  # the first run's windows went with it

    clock.run(worker())
    assert transport.throttled == 0

    def shorten_times(run_id: str) -> list[float]:
        first, last = marks[run_id]
        return [t for t, m, p, _ in transport.log[first:last] if (m, p) == SHORTEN]

    tight_sends, free_sends = shorten_times("run-tight"), shorten_times("run-free")
    assert len(tight_sends) == 12 and len(free_sends) == 150
    # The first run: never more than its 5 a minute.
    assert max(_per_minute(tight_sends).values()) <= 5
    # The second: the API's 100 a minute (learned from the sandbox), so 150 take the rest
    # of one minute and part of the next; at the first run's 5 a minute they would take 30.
    assert max(_per_minute(tight_sends + free_sends).values()) <= 100
    assert free_sends[-1] - free_sends[0] <= 61.0
