"""A loop's items are stored once, as its item rows: the step's and the run's `output_json`
hold a reference in their place, and reading either back gives the items again (lazily),
secrets masked, whatever mix of succeeded, failed, skipped and reused items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.loop_items import LoopItems
from connector.engine.retry_run import retry_run
from connector.engine.workflow import validate_workflow
from connector.errors import QuotaExhausted
from connector.redact import MASK, dumps_redacted, forget_secrets, register_secret

from .conftest import FakeCatalog, FakeRunner, SimClock

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture(autouse=True)
def _secret() -> Iterator[None]:
    forget_secrets()
    register_secret(SECRET)
    yield
    forget_secrets()


def _workflow(catalog: FakeCatalog, on_error: str, *, last: bool = True) -> Any:
    steps: list[dict[str, Any]] = [
        {
            "id": "each",
            "loop": {"over": "{{ trigger.keys }}", "batch_size": 2, "on_item_error": on_error},
            "action": "fake.get",
            "inputs": {"key": "{{ item }}", "n": "{{ index }}"},
        }
    ]
    if not last:
        steps.append({"id": "after", "action": "fake.list"})
    doc = {"name": "t", "retry": {"max_attempts": 2, "initial_delay": 0.5, "jitter": 0}}
    return validate_workflow({**doc, "steps": steps}, catalog)


def _stored(engine: Engine, run_id: str) -> tuple[str | None, str | None]:
    db = engine.runlog.store
    step = db.execute(
        "SELECT output_json FROM steps WHERE run_id=? AND step_id='each'", (run_id,)
    ).fetchone()[0]
    run = db.execute("SELECT output_json FROM runs WHERE id=?", (run_id,)).fetchone()[0]
    return step, run


def _keys() -> list[str]:
    # Keys echoed into the outputs, one of them holding the secret (masked by value).
    return ["k0", f"k1-{SECRET}", "k2", 'k3 "quoted" \u00e9', "k4"]


def test_items_are_stored_once_and_read_back(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    result = clock.run(engine.run(_workflow(catalog, "continue"), {"keys": _keys()}))
    assert result.ok
    items = result.output["items"]
    assert isinstance(items, LoopItems) and len(items) == 5
    step, run = _stored(engine, result.run_id)
    # The references: a few hundred bytes, not the items again.
    assert (
        json.loads(step) == json.loads(run) == {"items": None, "summary": result.output["summary"]}
    )
    record = engine.runlog.steps(result.run_id)[0]
    stored_run = engine.runlog.get_run(result.run_id)
    for output in (result.output, record.output, stored_run.output):
        assert list(output["items"]) == list(items)
    assert SECRET not in json.dumps(list(items)) and MASK in json.dumps(list(items))
    assert items[1] == items[-4] and items[0] is not None and items[5:] == []


def test_failed_and_skipped_items_are_null(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    runner.plan("fake.get", "k2", QuotaExhausted("no"))
    result = clock.run(engine.run(_workflow(catalog, "stop"), {"keys": _keys()}))
    assert result.status == "failed"
    record = engine.runlog.steps(result.run_id)[0]
    items = list(record.output["items"])
    assert record.summary is not None and record.summary["failed"] == 1
    succeeded = [i for i, x in enumerate(items) if x is not None]
    assert 2 not in succeeded and len(succeeded) == record.summary["succeeded"]
    assert all(items[i] == {"echo": {"key": _keys()[i], "n": i}} for i in succeeded if i != 1)


def test_retry_run_with_reused_items(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    runner.plan("fake.get", "k0", QuotaExhausted("no"))
    first = clock.run(engine.run(_workflow(catalog, "continue"), {"keys": _keys()}))
    assert first.status == "failed"
    assert first_items(engine, first.run_id)[0] is None
    second = clock.run(retry_run(engine, first.run_id))
    assert second.ok
    assert None not in list(second.output["items"])
    assert list(engine.runlog.get_run(second.run_id).output["items"]) == list(
        second.output["items"]
    )
    assert list(second.output["items"])[1:] == first_items(engine, first.run_id)[1:]


def first_items(engine: Engine, run_id: str) -> list[Any]:
    return list(engine.runlog.steps(run_id)[0].output["items"])


def test_a_later_step_gets_its_own_run_output(
    engine: Engine, catalog: FakeCatalog, clock: SimClock
) -> None:
    result = clock.run(engine.run(_workflow(catalog, "continue", last=False), {"keys": ["a"]}))
    step, run = _stored(engine, result.run_id)
    assert run == dumps_redacted(result.output) and run != step


def test_a_secret_registered_after_the_items_were_written_is_masked(
    engine: Engine, catalog: FakeCatalog, clock: SimClock
) -> None:
    result = clock.run(engine.run(_workflow(catalog, "continue"), {"keys": ["late-secret-v"]}))
    register_secret("late-secret-v")
    items = list(engine.runlog.get_run(result.run_id).output["items"])
    assert items == [{"echo": {"key": MASK, "n": 0}}]


def test_items_read_after_the_log_was_closed(
    engine: Engine, catalog: FakeCatalog, clock: SimClock
) -> None:
    result = clock.run(engine.run(_workflow(catalog, "continue"), {"keys": ["a", "b"]}))
    if not isinstance(engine.runlog.target, str):  # a SQLite file reopens read-only
        engine.runlog.close()
        assert [x["echo"]["key"] for x in result.output["items"]] == ["a", "b"]


def test_references_at_any_depth_are_split_and_joined(engine: Engine) -> None:
    from connector.engine.loop_items import join_refs, split_refs

    log = engine.runlog
    a, b = LoopItems(log, "r", "a", 3), LoopItems(log, "r", "b", 5)
    value = {"x": [1, {"y": a}], "z": b, "plain": {"k": [2]}}
    plain, refs = split_refs(value)
    assert plain == {"x": [1, {"y": None}], "z": None, "plain": {"k": [2]}}
    assert value["z"] is b and plain["plain"] is value["plain"]  # copied only along the paths
    assert refs == [[["x", 1, "y"], "a", 3], [["z"], "b", 5]]
    joined = join_refs(json.loads(json.dumps(plain)), json.loads(json.dumps(refs)), log, "r")
    assert (joined["x"][1]["y"].step_id, len(joined["z"])) == ("a", 5)
    assert split_refs([1, "two"]) == ([1, "two"], None)
    whole = join_refs(None, [[[], "a", 2]], log, "r")
    assert isinstance(whole, LoopItems) and len(whole) == 2
