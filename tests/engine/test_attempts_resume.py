"""A call cut off mid-retry (its worker lost) and run again by another engine continues its
attempt count and its wait from the run log's journal: never more than the policy's
attempts in all, and the run log lists every one (attempt_journal.py). Engine level, no
Temporal: the second engine stands in for the worker that takes the activity over."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from connector.engine.attempt_journal import AttemptJournal
from connector.engine.executor import Engine
from connector.engine.loop_item import run_item
from connector.engine.runlog import RunLog
from connector.engine.workflow import ActionStep, LoopStep, Workflow, validate_workflow
from connector.errors import ServerError

from .conftest import FakeCatalog, FakeRunner, SimClock

RETRY = {"max_attempts": 5, "initial_delay": 1.0, "multiplier": 2.0, "jitter": 0.0}


def _workflow(catalog: FakeCatalog, action: str, *, loop: bool = False) -> Workflow:
    step: dict[str, Any] = {"id": "s", "action": action, "inputs": {"key": "k"}}
    if loop:
        step = {
            "id": "each",
            "loop": {"over": "{{ trigger.keys }}"},
            "action": action,
            "inputs": {"key": "{{ item }}"},
        }
    return validate_workflow({"name": "t", "retry": RETRY, "steps": [step]}, catalog)


def _worker(catalog: FakeCatalog, runner: FakeRunner, log: RunLog, clock: SimClock) -> Engine:
    """An engine as a Temporal worker holds one: its calls journaled."""
    engine = Engine(catalog, runner, log, clock=clock, rng=random.Random(3))
    engine.journal = AttemptJournal(log)
    return engine


def _cut_off_at(runner: FakeRunner, call: int, *, in_flight: bool) -> None:
    """The worker dies at request `call`: right after its answer (during the wait that
    follows), or while it is in flight (`in_flight`: no answer ever recorded)."""
    original = runner.run

    async def run(action_id: str, inputs: dict[str, Any]) -> Any:
        if len(runner.calls) + 1 == call:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # delivered at the next await: the wait, or the request itself
            if in_flight:
                runner.calls.append((action_id, inputs))
                await asyncio.sleep(3600)
        return await original(action_id, inputs)

    runner.run = run  # type: ignore[method-assign]


async def _lost(coro: Any) -> None:
    with pytest.raises(asyncio.CancelledError):
        await coro


def _call(engine: Engine, workflow: Workflow, run_id: str, trigger: Any) -> Any:
    """The step (an action step), or the loop's item 0, as an activity runs it."""
    step = workflow.steps[0]
    context = {"trigger": trigger, "steps": {}}
    if isinstance(step, LoopStep):
        return run_item(engine, run_id, step, context, trigger["keys"][0], 0)
    assert isinstance(step, ActionStep)
    return engine.run_step(run_id, 0, step, context, None)


def _lose_worker(
    log: RunLog, catalog: FakeCatalog, clock: SimClock, workflow: Workflow, trigger: Any,
    failures: list[BaseException], *, cut_at: int, in_flight: bool,
) -> str:  # fmt: skip
    """Run the call on a worker whose requests fail with `failures`, lost at request
    `cut_at`; the run's id."""
    first = FakeRunner(clock)
    key = trigger["keys"][0] if trigger else "k"
    step = workflow.steps[0]
    assert isinstance(step, ActionStep | LoopStep)
    action = step.body[0].action if isinstance(step, LoopStep) else step.action
    first.plan(action, key, *failures)
    _cut_off_at(first, cut_at, in_flight=in_flight)
    lost = _worker(catalog, first, log, clock)
    run_id = lost.runlog.create_run(
        workflow=workflow.document, trigger=trigger, source_path=None, parent_run_id=None,
        started_at=clock.wall(),
    )  # fmt: skip
    lost.bind_run(run_id, workflow, run_id)
    clock.run(_lost(_call(lost, workflow, run_id, trigger)))
    assert len(first.calls) == cut_at
    return run_id


def _take_over(
    log: RunLog, catalog: FakeCatalog, clock: SimClock, workflow: Workflow, run_id: str,
    trigger: Any, runner: FakeRunner,
) -> Any:  # fmt: skip
    """Another worker runs the call again."""
    resumed = _worker(catalog, runner, log, clock)
    resumed.bind_run(run_id, workflow, run_id)
    return clock.run(_call(resumed, workflow, run_id, trigger))


def _boom(*numbers: int) -> list[BaseException]:
    return [ServerError(f"boom {n}", status=503, write_applied=False) for n in numbers]


def test_a_step_cut_off_during_its_wait_continues_attempt_4_and_the_wait(
    runlog: RunLog, catalog: FakeCatalog, clock: SimClock
) -> None:
    workflow = _workflow(catalog, "fake.get")
    run_id = _lose_worker(
        runlog, catalog, clock, workflow, {}, _boom(1, 2, 3), cut_at=3, in_flight=False
    )
    cut_at = clock.t

    # Another worker takes the step over: attempts 4 and 5 only, after the wait left.
    second = FakeRunner(clock)
    second.plan("fake.get", "k", *_boom(4, 5))
    clock.sleeps.clear()
    with pytest.raises(Exception, match="boom 5"):
        _take_over(runlog, catalog, clock, workflow, run_id, {}, second)
    assert len(second.calls) == 2, "5 attempts in all, not 3 + 5"
    assert clock.sleeps == [4.0, 8.0], "the wait after attempt 3 (4 s), then after 4 (8 s)"
    assert clock.t == cut_at + 12.0
    recorded = runlog.steps(run_id)[0]
    assert [a["attempt"] for a in recorded.attempts] == [1, 2, 3, 4, 5]
    assert [a["wait"] for a in recorded.attempts[:4]] == [1.0, 2.0, 4.0, 8.0]
    assert [a["error"]["message"] for a in recorded.attempts] == [f"boom {n}" for n in range(1, 6)]


def test_a_loop_item_cut_off_in_flight_counts_the_lost_attempt(
    runlog: RunLog, catalog: FakeCatalog, clock: SimClock
) -> None:
    """Attempts 1-3 fail, attempt 4 is in flight when the worker dies: one more attempt."""
    workflow = _workflow(catalog, "fake.get", loop=True)
    trigger = {"keys": ["a"]}
    run_id = _lose_worker(
        runlog, catalog, clock, workflow, trigger, _boom(1, 2, 3), cut_at=4, in_flight=True
    )
    second = FakeRunner(clock)
    second.plan("fake.get", "a", *_boom(5))
    record = _take_over(runlog, catalog, clock, workflow, run_id, trigger, second)
    assert len(second.calls) == 1
    assert record.status == "failed" and record.error["message"] == "boom 5"
    results = [(a["attempt"], a["result"]) for a in record.attempts]
    assert results == [(1, "failed"), (2, "failed"), (3, "failed"), (4, "lost"), (5, "failed")]
    assert "cut off when its worker stopped" in record.attempts[3]["error"]["message"]


def test_a_call_whose_five_attempts_were_made_sends_nothing_more(
    runlog: RunLog, catalog: FakeCatalog, clock: SimClock
) -> None:
    workflow = _workflow(catalog, "fake.get")
    run_id = _lose_worker(
        runlog, catalog, clock, workflow, {}, _boom(1, 2, 3, 4), cut_at=5, in_flight=True
    )
    second = FakeRunner(clock)
    with pytest.raises(Exception, match="cut off when its worker stopped"):
        _take_over(runlog, catalog, clock, workflow, run_id, {}, second)
    assert second.calls == [], "the policy's 5 attempts were made: none is added"
    assert len(runlog.steps(run_id)[0].attempts) == 5


def test_a_write_cut_off_in_flight_is_read_back_then_sent_within_the_attempts_left(
    runlog: RunLog, catalog: FakeCatalog, clock: SimClock
) -> None:
    workflow = _workflow(catalog, "fake.create_checked")
    run_id = _lose_worker(
        runlog, catalog, clock, workflow, {}, _boom(1, 2, 3), cut_at=4, in_flight=True
    )
    second = FakeRunner(clock)
    second.reconcile_result = None  # the lost write did not land
    output = _take_over(runlog, catalog, clock, workflow, run_id, {}, second)
    assert output == {"echo": {"key": "k"}}
    assert len(second.reconciles) == 1 and len(second.calls) == 1
    attempts = runlog.steps(run_id)[0].attempts
    shown = [(a["attempt"], a.get("call", "write"), a["result"]) for a in attempts]
    assert shown == [
        (1, "write", "failed"), (2, "write", "failed"), (3, "write", "failed"),
        (4, "write", "lost"), (5, "reconcile", "not_applied"), (6, "write", "succeeded"),
    ]  # fmt: skip
    writes = [a for a in attempts if a.get("call") != "reconcile"]
    assert len(writes) == 5, "5 write attempts in all; the read-back is a check"


def test_an_embedded_run_journals_nothing(engine: Engine, catalog: FakeCatalog) -> None:
    """Embedded runs are never resumed (a retry is a new run): no journal, no extra write."""
    assert engine.journal is None
    runner = engine.runner
    assert isinstance(runner, FakeRunner)
    runner.plan("fake.get", "k", ServerError("boom", status=503))
    clock = engine.clock
    assert isinstance(clock, SimClock)
    result = clock.run(engine.run(_workflow(catalog, "fake.get"), {}))
    assert result.ok
    rows = engine.runlog.store.execute("SELECT count(*) FROM call_attempts").fetchone()
    assert rows[0] == 0
