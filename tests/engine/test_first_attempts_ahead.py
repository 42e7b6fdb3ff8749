"""A Temporal worker's range journals the first attempts of the items it is about to start
together (attempt_journal.FirstAttemptsJournal, temporal/items.FirstAttempts): one statement
per lane-width of items, each item's attempt 1 durable before its request leaves, and an
item journaled ahead whose worker was lost before it started counted as one attempt lost,
never sent twice. Engine level, no Temporal server; SQLite and PostgreSQL run logs."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from connector.engine.attempt_journal import RESUMING, FirstAttemptsJournal
from connector.engine.executor import Engine
from connector.engine.runlog import RunLog
from connector.engine.workflow import LoopStep, Workflow, validate_workflow
from connector.errors import ServerError
from connector.temporal.items import finished_indexes, run_item_range

from .conftest import FakeCatalog, FakeRunner, SimClock

RETRY = {"max_attempts": 5, "initial_delay": 1.0, "multiplier": 2.0, "jitter": 0.0}


def _loop(catalog: FakeCatalog, batch_size: int) -> Workflow:
    step = {
        "id": "each",
        "loop": {"over": "{{ trigger.keys }}", "batch_size": batch_size},
        "action": "fake.get",
        "inputs": {"key": "{{ item }}"},
    }
    return validate_workflow({"name": "t", "retry": RETRY, "steps": [step]}, catalog)


def _worker(catalog: FakeCatalog, runner: Any, log: RunLog, clock: SimClock) -> Engine:
    """An engine as a Temporal worker holds one (activities.RunActivities)."""
    engine = Engine(catalog, runner, log, clock=clock, rng=random.Random(3))
    engine.journal = FirstAttemptsJournal(log)
    return engine


def _journaled(log: RunLog, run_id: str, idx: int) -> list[dict[str, Any]]:
    row = log.store.execute(
        "SELECT attempts_json FROM call_attempts WHERE run_id=? AND step_id='each' AND idx=?",
        (run_id, idx),
    ).fetchone()
    return [] if row is None else list(json.loads(row[0]))


def _start(engine: Engine, workflow: Workflow, keys: list[str]) -> str:
    run_id = engine.runlog.create_run(
        workflow=workflow.document, trigger={"keys": keys}, source_path=None,
        parent_run_id=None, started_at=engine.clock.wall(),
    )  # fmt: skip
    engine.bind_run(run_id, workflow, run_id)
    return run_id


async def _range(
    engine: Engine, workflow: Workflow, run_id: str, keys: list[str], todo: list[int],
    *, first: bool,
) -> int:  # fmt: skip
    """The activity's body over items `todo`: a first execution, or one run again."""
    RESUMING.set(not first)
    step = workflow.steps[0]
    assert isinstance(step, LoopStep)
    context = {"trigger": {"keys": keys}, "steps": {}}
    return await run_item_range(engine, run_id, step, context, keys, todo, {}, lambda ok: None)


def test_a_range_journals_its_first_attempts_a_lane_width_at_a_time(
    runlog: RunLog, catalog: FakeCatalog, clock: SimClock
) -> None:
    keys = [f"k{i}" for i in range(10)]
    runner = FakeRunner(clock)
    runner.plan("fake.get", "k3", ServerError("boom", status=503, write_applied=False))
    seen: dict[str, list[list[dict[str, Any]]]] = {}
    sent = runner.run

    async def run(action_id: str, inputs: dict[str, Any]) -> Any:
        # What the journal holds for this item as its request leaves.
        idx = keys.index(inputs["key"])
        seen.setdefault(inputs["key"], []).append(_journaled(runlog, run_id, idx))
        return await sent(action_id, inputs)

    runner.run = run  # type: ignore[method-assign]
    statements: list[str] = []
    execute = runlog.store.execute

    def counted(sql: str, args: Any = ()) -> Any:
        if "INSERT INTO call_attempts" in sql:
            statements.append("ahead" if sql.startswith("WITH chosen") else "one call")
        return execute(sql, args)

    runlog.store.execute = counted  # type: ignore[method-assign]
    engine = _worker(catalog, runner, runlog, clock)
    workflow = _loop(catalog, batch_size=5)
    run_id = _start(engine, workflow, keys)
    failed = clock.run(_range(engine, workflow, run_id, keys, list(range(10)), first=True))

    assert failed == 0
    # Each request left with its attempt durable: attempt 1 journaled ahead (no result yet),
    # and k3's attempt 2 by its own call, after attempt 1's failure and wait.
    for key in keys:
        assert [len(journal) for journal in seen[key]] == ([1, 2] if key == "k3" else [1])
        assert all(j[-1]["attempt"] == len(j) and "result" not in j[-1] for j in seen[key])
    assert seen["k3"][1][0]["result"] == "failed"
    # 10 items, lanes of 5: two statements for the first attempts; k3's wait and its
    # attempt 2 written by the call, as before. One by one it would be 10 + 2.
    assert sorted(statements) == ["ahead", "ahead", "one call", "one call"]
    items = {item.index: item for item in runlog.items(run_id, "each")}
    assert [(a["attempt"], a["result"]) for a in items[3].attempts] == [
        (1, "failed"), (2, "succeeded"),
    ]  # fmt: skip
    assert all(len(items[i].attempts) == 1 for i in range(10) if i != 3)


def test_an_item_journaled_ahead_of_a_lost_worker_counts_one_attempt_never_sent_twice(
    runlog: RunLog, catalog: FakeCatalog, clock: SimClock
) -> None:
    """Lanes of 2 over 4 items: k0 answers, k1 and k2 are in flight when the worker is
    lost, k3 was journaled with k2 but never started."""
    keys = ["k0", "k1", "k2", "k3"]
    workflow = _loop(catalog, batch_size=2)
    first = FakeRunner(clock)
    outer: list[asyncio.Task[Any]] = []

    async def run(action_id: str, inputs: dict[str, Any]) -> Any:
        first.calls.append((action_id, inputs))
        if inputs["key"] == "k0":
            return {"echo": inputs}
        if inputs["key"] == "k2":
            outer[0].cancel()  # the worker is lost with k1 and k2 in flight
        await asyncio.Event().wait()  # never answered

    first.run = run  # type: ignore[method-assign]
    lost = _worker(catalog, first, runlog, clock)
    run_id = _start(lost, workflow, keys)

    async def lose() -> None:
        task = asyncio.current_task()
        assert task is not None
        outer.append(task)
        try:
            await _range(lost, workflow, run_id, keys, [0, 1, 2, 3], first=True)
        except asyncio.CancelledError:
            return
        raise AssertionError("the range was not cut off")

    clock.run(lose())
    assert [inputs["key"] for _, inputs in first.calls] == ["k0", "k1", "k2"]
    assert [a["attempt"] for a in _journaled(runlog, run_id, 3)] == [1], "journaled ahead"
    done = finished_indexes(runlog, run_id, "each", 0, 4)
    assert done == {0}

    # Temporal runs the activity again on another worker: each call continues its count.
    second = FakeRunner(clock)
    again = _worker(catalog, second, runlog, clock)
    again.bind_run(run_id, workflow, run_id)
    todo = [i for i in range(4) if i not in done]
    failed = clock.run(_range(again, workflow, run_id, keys, todo, first=False))
    assert failed == 0
    assert sorted(inputs["key"] for _, inputs in second.calls) == ["k1", "k2", "k3"]
    items = {item.index: item for item in runlog.items(run_id, "each")}
    for idx in (1, 2, 3):
        # k3's attempt 1 never left, but it cannot be told from one cut off in flight:
        # counted as lost, and k3 sent once in all.
        shown = [(a["attempt"], a["result"]) for a in items[idx].attempts]
        assert shown == [(1, "lost"), (2, "succeeded")], (idx, items[idx].attempts)


def test_first_attempts_leave_a_call_already_journaled_as_it_was(
    runlog: RunLog, catalog: FakeCatalog, clock: SimClock
) -> None:
    journal = FirstAttemptsJournal(runlog)
    engine = _worker(catalog, FakeRunner(clock), runlog, clock)
    run_id = _start(engine, _loop(catalog, batch_size=5), ["a", "b", "c"])
    earlier = [{"attempt": 1, "started_at": 1.0, "result": "failed", "wait": 1.0}]
    journal.save((run_id, "each", 1, ""), earlier, 2.0)

    journal.first_attempts(run_id, "each", "", [0, 1, 2], 3.0)

    assert _journaled(runlog, run_id, 1) == earlier
    assert [_journaled(runlog, run_id, i) for i in (0, 2)] == [
        [{"attempt": 1, "started_at": 3.0}]
    ] * 2
    assert not journal.claim((run_id, "each", 1, "")), "item 1's call writes its own attempts"
    assert journal.claim((run_id, "each", 0, "")) and not journal.claim((run_id, "each", 0, ""))
