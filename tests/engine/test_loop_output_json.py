"""A loop's output is written to the run log from its items' JSON, not serialised again:
the step's and the run's `output_json` must be exactly what serialising the whole output
gives, secrets masked, whatever mix of succeeded, failed, skipped and reused items."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.retry_run import retry_run
from connector.engine.runlog import ItemRecord, RunLog, loop_output_json
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


def test_all_succeeded_step_and_run_output_are_the_whole_dump(
    engine: Engine, catalog: FakeCatalog, clock: SimClock
) -> None:
    result = clock.run(engine.run(_workflow(catalog, "continue"), {"keys": _keys()}))
    assert result.ok
    step, run = _stored(engine, result.run_id)
    assert step == dumps_redacted(result.output)
    assert run == dumps_redacted(result.output)
    assert SECRET not in step and MASK in step


def test_failed_and_skipped_items_are_null(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    runner.plan("fake.get", "k2", QuotaExhausted("no"))
    result = clock.run(engine.run(_workflow(catalog, "stop"), {"keys": _keys()}))
    assert result.status == "failed"
    record = engine.runlog.steps(result.run_id)[0]
    step, _ = _stored(engine, result.run_id)
    rebuilt = {"items": record.output["items"], "summary": record.summary}
    assert step == dumps_redacted(rebuilt)
    assert json.loads(step)["items"][2] is None


def test_retry_run_with_reused_items(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    runner.plan("fake.get", "k0", QuotaExhausted("no"))
    first = clock.run(engine.run(_workflow(catalog, "continue"), {"keys": _keys()}))
    assert first.status == "failed"
    second = clock.run(retry_run(engine, first.run_id))
    assert second.ok
    step, run = _stored(engine, second.run_id)
    assert step == run == dumps_redacted(second.output)


def test_a_later_step_gets_its_own_run_output(
    engine: Engine, catalog: FakeCatalog, clock: SimClock
) -> None:
    result = clock.run(engine.run(_workflow(catalog, "continue", last=False), {"keys": ["a"]}))
    step, run = _stored(engine, result.run_id)
    assert run == dumps_redacted(result.output) and run != step


@pytest.mark.parametrize(
    ("secret", "outputs"),
    [
        ('x"},{"y', [{"a": "x"}, {"y": 1}]),  # structure only: no value holds it
        ("23,456", [123, 456]),  # straddles two items' texts
        ("abc-sec,ret", ["abc-sec,ret", None]),  # inside one item
        ("plain-secret-1", [{"k": "has plain-secret-1 in it"}, ["plain-secret-1"]]),
    ],
)
def test_assembled_text_is_the_whole_dump(secret: str, outputs: list[Any]) -> None:
    register_secret(secret)
    summary = {"total": len(outputs)}
    texts = [None if o is None else dumps_redacted(o) for o in outputs]
    assembled = loop_output_json(texts, summary)
    assert assembled == dumps_redacted({"items": outputs, "summary": summary})
    assert json.loads(assembled)


def test_a_secret_registered_after_the_items_were_written_is_masked() -> None:
    texts = [dumps_redacted({"token": "late-secret-value"}), None]
    register_secret("late-secret-value")
    assembled = loop_output_json(texts, {"total": 2})
    assert json.loads(assembled) == {"items": [{"token": MASK}, None], "summary": {"total": 2}}


class _SilentRunLog(RunLog):
    """A run log subclass (as a benchmark's timing wrapper) that returns no texts."""

    def write_item(self, run_id: str, record: ItemRecord) -> None:  # type: ignore[override]
        super().write_item(run_id, record)

    def write_items(self, run_id: str, records: list[ItemRecord]) -> None:  # type: ignore[override]
        super().write_items(run_id, records)


def test_a_run_log_returning_no_texts_still_gets_the_whole_output(
    catalog: FakeCatalog, runner: FakeRunner, clock: SimClock, tmp_path: Path
) -> None:
    log = _SilentRunLog(tmp_path / "silent.db")
    engine = Engine(catalog, runner, log, clock=clock, rng=random.Random(1))
    runner.plan("fake.get", "k0", QuotaExhausted("no"))
    first = clock.run(engine.run(_workflow(catalog, "continue"), {"keys": _keys()}))
    second = clock.run(retry_run(engine, first.run_id))  # reused items through write_items
    for result in (first, second):
        step, run = _stored(engine, result.run_id)
        record = engine.runlog.steps(result.run_id)[0]
        assert step == dumps_redacted({"items": record.output["items"], "summary": record.summary})
        assert json.loads(step)["items"][1] is not None
    assert run == dumps_redacted(second.output)
    log.close()
