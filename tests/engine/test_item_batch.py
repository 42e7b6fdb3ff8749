"""Group commit of loop items: fewer transactions, and never an item acknowledged before it
is on disk (checked from a second connection, and across a real `kill -9`)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector.engine import item_batch
from connector.engine.item_batch import ItemBatch
from connector.engine.runlog import ItemRecord, RunLog
from connector.engine.workflow import validate_workflow


def _record(idx: int, status: str = "succeeded") -> ItemRecord:
    return ItemRecord("loop", idx, status, idx, None, {"i": idx}, None, [], 1.0, 2.0, None)


class Writer:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def write_item(self, run_id: str, record: ItemRecord) -> str | None:
        return self.write_items(run_id, [record])[0]

    def write_items(self, run_id: str, records: list[ItemRecord]) -> list[str | None]:
        self.batches.append([r.index for r in records])
        return [json.dumps(r.output) for r in records]


class Timers:
    """An injected scheduler: timers fire when the test says so."""

    def __init__(self) -> None:
        self.due: list[tuple[float, Callable[[], None], Handle]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Handle:
        handle = Handle()
        self.due.append((delay, callback, handle))
        return handle

    def fire(self) -> None:
        due, self.due = self.due, []
        for _, callback, handle in due:
            if not handle.cancelled:
                callback()


class Handle:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def _batch(writer: Writer, acked: list[tuple[int, str | None]], **kw: Any) -> ItemBatch:
    return ItemBatch(writer, "run", lambda r, t: acked.append((r.index, t)), **kw)


def test_items_wait_for_the_timer_and_are_acknowledged_after_their_commit() -> None:
    writer, acked, timers = Writer(), [], Timers()
    batch = _batch(writer, acked, schedule=timers, max_delay=0.05)
    for idx in range(3):
        batch.add(_record(idx))
    assert writer.batches == [] and acked == []
    assert [d for d, _, _ in timers.due] == [0.05]  # one timer for the batch, not per item
    timers.fire()
    assert writer.batches == [[0, 1, 2]]
    assert acked == [(0, '{"i": 0}'), (1, '{"i": 1}'), (2, '{"i": 2}')]


def test_a_full_batch_commits_at_once() -> None:
    writer, acked, timers = Writer(), [], Timers()
    batch = _batch(writer, acked, schedule=timers, max_items=4)
    for idx in range(10):
        batch.add(_record(idx))
    assert writer.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    batch.close()
    assert writer.batches[-1] == [8, 9]
    assert [i for i, _ in acked] == list(range(10))
    timers.fire()  # the timers of committed batches were cancelled: nothing written twice
    assert len(writer.batches) == 3


def test_now_commits_the_item_with_what_is_pending_before_returning() -> None:
    writer, acked, timers = Writer(), [], Timers()
    batch = _batch(writer, acked, schedule=timers)
    batch.add(_record(0))
    batch.add(_record(1), now=True)
    assert writer.batches == [[0, 1]] and len(acked) == 2


def test_a_commit_that_fails_on_the_timer_is_raised_to_the_loop() -> None:
    class Broken(Writer):
        def write_items(self, run_id: str, records: list[ItemRecord]) -> list[str | None]:
            raise sqlite3.OperationalError("disk I/O error")

    acked: list[tuple[int, str | None]] = []
    timers = Timers()
    batch = _batch(Broken(), acked, schedule=timers)
    batch.add(_record(0))
    timers.fire()
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        batch.add(_record(1))
    assert acked == []


def _loop_workflow(catalog: Any, action: str, n: int, batch_size: int = 3) -> Any:
    doc = {
        "name": "batch",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.keys }}", "batch_size": batch_size},
                "action": action,
                "inputs": {"key": "{{ item }}"},
            }
        ],
    }
    return validate_workflow(doc, catalog), {"keys": [f"k{i}" for i in range(n)]}


class DiskCheckingProgress:
    """Asserts, from a second connection, that every acknowledged item is committed."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.acked = 0

    def step_started(self, step_id: str, kind: str, total: int | None = None) -> None:
        return None

    def item_finished(self, step_id: str, ok: bool) -> None:
        self.acked += 1
        (rows,) = self.db.execute("SELECT count(*) FROM loop_items").fetchone()
        assert rows >= self.acked

    def step_finished(self, step_id: str, status: str, detail: str = "") -> None:
        return None


class CountingLog(RunLog):
    transactions = 0

    def write_item(self, run_id: str, record: ItemRecord) -> str | None:
        if not self._db.in_transaction:
            self.transactions += 1
        return super().write_item(run_id, record)

    def write_items(self, run_id: str, records: list[ItemRecord]) -> list[str | None]:
        self.transactions += 1
        self._db.execute("BEGIN")
        try:
            texts = [super(CountingLog, self).write_item(run_id, r) for r in records]
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return texts


@pytest.mark.parametrize(("action", "grouped"), [("fake.get", True), ("fake.create", False)])
def test_a_loop_acknowledges_only_committed_items(
    engine: Any, catalog: Any, clock: Any, tmp_path: Path, action: str, grouped: bool
) -> None:
    path = tmp_path / "counted.db"
    engine.runlog = CountingLog(path)
    engine.progress = progress = DiskCheckingProgress(path)
    workflow, trigger = _loop_workflow(catalog, action, 40)
    result = clock.run(engine.run(workflow, trigger))
    assert result.ok and progress.acked == 40
    assert len(list(engine.runlog.items(result.run_id, "each"))) == 40
    # An idempotent loop commits in groups; a writing loop commits every item on its own.
    if grouped:
        assert engine.runlog.transactions < 10
    else:
        assert engine.runlog.transactions == 40


def test_a_writing_loop_commits_each_item_before_the_next_call(
    engine: Any, catalog: Any, runner: Any, clock: Any, tmp_path: Path
) -> None:
    path = tmp_path / "runs.db"
    engine.runlog = RunLog(path)
    seen = sqlite3.connect(path)
    finished: list[int] = []
    original = runner.run

    async def run(action_id: str, inputs: dict[str, Any]) -> Any:
        (rows,) = seen.execute("SELECT count(*) FROM loop_items").fetchone()
        assert rows == len(finished)
        out = await original(action_id, inputs)
        finished.append(1)
        return out

    runner.run = run
    # One at a time, so "before the next call" is well defined.
    workflow, trigger = _loop_workflow(catalog, "fake.create", 12, batch_size=1)
    assert clock.run(engine.run(workflow, trigger)).ok


_CHILD = """
import asyncio, os, random, signal, sys
sys.path.insert(0, {tests!r})
from conftest import ACTIONS, FakeCatalog, FakeRunner
from connector.engine import item_batch
from connector.engine.executor import Engine
from connector.engine.runlog import RunLog
from connector.engine.workflow import validate_workflow

item_batch.MAX_ITEMS = 16
catalog = FakeCatalog(ACTIONS)

class Killer(FakeRunner):
    async def run(self, action_id, inputs):
        if len(self.calls) == 150:
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().run(action_id, inputs)

class Acks:
    def step_started(self, *a, **k): pass
    def step_finished(self, *a, **k): pass
    def item_finished(self, step_id, ok):
        print("ack", flush=True)

doc = {{"name": "k", "steps": [{{"id": "each", "loop": {{"over": "{{{{ trigger.keys }}}}",
       "batch_size": 5}}, "action": "fake.get", "inputs": {{"key": "{{{{ item }}}}"}}}}]}}
engine = Engine(catalog, Killer(), RunLog({db!r}), progress=Acks(), rng=random.Random(1))
asyncio.run(engine.run(validate_workflow(doc, catalog), {{"keys": [str(i) for i in range(400)]}}))
"""


@pytest.mark.slow
def test_kill_9_keeps_every_acknowledged_item(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    tests = str(Path(__file__).parent)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=tests, db=str(db))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    acked = child.stdout.count("ack")
    (rows,) = sqlite3.connect(db).execute("SELECT count(*) FROM loop_items").fetchone()
    assert acked > 0
    assert rows >= acked
    assert item_batch.MAX_ITEMS == 256  # the child's setting stayed in the child
    assert os.path.getsize(db) > 0
