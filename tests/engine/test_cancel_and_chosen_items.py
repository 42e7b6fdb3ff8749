"""Cooperative cancel (between steps and between loop items, nothing in flight lost) and the
retry of chosen loop items only (the others carried over as they were)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.retry_run import retry_run
from connector.engine.workflow import validate_workflow
from connector.errors import InvalidInput, NotFound

from .conftest import FakeCatalog, FakeRunner, SimClock


def _wf(catalog: FakeCatalog, steps: list[dict[str, Any]]) -> Any:
    doc = {"name": "t", "retry": {"max_attempts": 1}, "steps": steps}
    return validate_workflow(doc, catalog)


def _cancel_after(engine: Engine, runner: FakeRunner, calls: int) -> None:
    """Cancel the running run once `calls` requests have been answered."""
    original = runner.run

    async def run(action_id: str, inputs: dict[str, Any]) -> Any:
        out = await original(action_id, inputs)
        if len(runner.calls) == calls:
            engine.cancel(engine.runlog.list_runs(limit=1)[0].id)
        return out

    runner.run = run  # type: ignore[method-assign]


def test_cancel_stops_a_writing_loop_between_items_and_a_retry_finishes_it(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    runner.latency = 0.1
    loop = {
        "id": "each",
        "loop": {"over": "{{ trigger.keys }}", "batch_size": 2},
        "action": "fake.create",
        "inputs": {"key": "{{ item }}"},
    }
    _cancel_after(engine, runner, 3)
    keys = [f"k{i}" for i in range(10)]
    result = clock.run(engine.run(_wf(catalog, [loop]), {"keys": keys}))
    assert result.status == "cancelled" and result.failed_step == "each"
    assert result.error["type"] == "Cancelled"
    step = engine.runlog.steps(result.run_id)[0]
    assert step.status == "cancelled"
    done = step.summary["succeeded"]
    # the item in flight when the cancel came finished and was recorded; nothing else started
    assert done == len(runner.calls) == len(runner.applied) in (3, 4)
    assert step.summary == {"total": 10, "succeeded": done, "failed": 0, "skipped": 10 - done}
    lineage = engine.runlog.lineage_of(result.run_id)
    assert engine.runlog.intents.open_in(lineage) == [], "no write left without its outcome"
    assert engine.runlog.get_run(result.run_id).status == "cancelled"
    child = clock.run(retry_run(engine, result.run_id))
    assert child.ok
    sent = sorted(inputs["key"] for inputs in runner.applied)
    assert sent == sorted(keys), "every item written exactly once"


def test_cancel_between_steps(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    steps = [
        {"id": "a", "action": "fake.get", "inputs": {"key": "a"}},
        {"id": "b", "action": "fake.get", "inputs": {"key": "b"}},
    ]
    _cancel_after(engine, runner, 1)
    result = clock.run(engine.run(_wf(catalog, steps), {}))
    assert result.status == "cancelled" and result.failed_step == "b"
    assert [s.step_id for s in engine.runlog.steps(result.run_id)] == ["a"]
    assert len(runner.calls) == 1


def test_retry_of_chosen_items_reruns_only_those(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    loop = {
        "id": "each",
        "loop": {"over": "{{ trigger.keys }}", "on_item_error": "continue"},
        "action": "fake.get",
        "inputs": {"key": "{{ item }}"},
    }
    runner.plan("fake.get", "k1", NotFound("gone"))
    runner.plan("fake.get", "k2", NotFound("gone"))
    wf = _wf(catalog, [loop])
    first = clock.run(engine.run(wf, {"keys": ["k0", "k1", "k2", "k3"]}))
    assert first.status == "failed"
    for bad, message in (
        (["each[0]"], "succeeded"),
        (["each[9]"], "does not exist"),
        (["other[1]"], "no loop step"),
        (["each"], "not an item label"),
        ([], "at least one"),
    ):
        with pytest.raises(InvalidInput, match=message):
            clock.run(retry_run(engine, first.run_id, items=bad))
    runner.calls.clear()
    second = clock.run(retry_run(engine, first.run_id, items=["each[1]"]))
    assert [c[1]["key"] for c in runner.calls] == ["k1"]
    assert second.status == "failed"
    items = {i.index: i for i in engine.runlog.items(second.run_id, "each")}
    assert items[1].status == "succeeded" and items[1].reused_from is None
    assert items[2].status == "failed" and items[2].reused_from == first.run_id
    assert items[2].error["type"] == "NotFound"
    assert engine.runlog.steps(second.run_id)[0].summary == {
        "total": 4, "succeeded": 3, "failed": 1, "skipped": 0
    }  # fmt: skip
    third = clock.run(retry_run(engine, second.run_id))
    assert third.ok and [c[1]["key"] for c in runner.calls] == ["k1", "k2"]
