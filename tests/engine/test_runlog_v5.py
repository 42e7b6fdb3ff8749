"""Schema version 5: a run log of the previous release (version 4) opens migrated, and its
runs take a cancel request from any process (which a running engine reads between items);
each call's attempts have their journal."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.run_cancel import RunNotRunning, cancel_requested, request_cancel
from connector.engine.run_records import MIGRATIONS
from connector.engine.runlog import RunLog
from connector.engine.runlog_migrate import SCHEMA_VERSION, schema_version
from connector.engine.runlog_store import open_store
from connector.engine.workflow import validate_workflow
from connector.errors import InvalidInput

from .conftest import FakeCatalog, FakeRunner, SimClock


def _version_4_log(target: Path | str) -> None:
    """A log as the previous release left it, with a run still running (this process) and
    one that failed."""
    store = open_store(target)
    for script in MIGRATIONS[:4]:
        store.script(script)
    store.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    store.execute("INSERT INTO schema_version (version) VALUES (4)")
    for run_id, status in (("r-running", "running"), ("r-failed", "failed")):
        store.execute(
            "INSERT INTO runs (id, workflow_name, workflow_json, trigger_json, status,"
            " started_at, pid, host) VALUES (?, 'old', '{}', 'null', ?, 10.0, ?, ?)",
            (run_id, status, os.getpid(), socket.gethostname()),
        )
    store.close()


def test_a_version_4_log_is_migrated_and_takes_cancel_requests(runlog_target: Path | str) -> None:
    _version_4_log(runlog_target)
    with RunLog(runlog_target) as log:
        assert schema_version(log.store) == SCHEMA_VERSION == 5
        assert "call_attempts" in log.store.table_names()
        assert not cancel_requested(log, "r-running")
        first = request_cancel(log, "r-running", at=20.0)
        assert (first.run_id, first.requested_at) == ("r-running", 20.0)
        # Asked again: recorded once, at the first time.
        assert request_cancel(log, "r-running", at=30.0).requested_at == 20.0
        assert cancel_requested(log, "r-running")
        with pytest.raises(RunNotRunning, match=r"r-failed is not running \(failed\)") as info:
            request_cancel(log, "r-failed", at=20.0)
        assert info.value.status == "failed" and info.value.exit_code == 1
        assert not cancel_requested(log, "r-failed")
        with pytest.raises(InvalidInput, match="no run with id 'nope'") as unknown:
            request_cancel(log, "nope", at=20.0)
        assert unknown.value.exit_code == 2
    with RunLog(runlog_target, readonly=True) as again:  # opened again: not migrated twice
        rows = again.store.execute("SELECT version FROM schema_version").fetchall()
        assert [tuple(r) for r in rows] == [(5,)]


def test_a_run_whose_process_is_gone_is_not_cancelled(runlog_target: Path | str) -> None:
    with RunLog(runlog_target) as log:
        run_id = log.create_run(
            workflow={"name": "w"}, trigger=None, source_path=None, parent_run_id=None,
            started_at=1.0,
        )  # fmt: skip
        dead = 2**22 + 12345  # above pid_max's default: no such process
        log.store.execute("UPDATE runs SET pid=? WHERE id=?", (dead, run_id))
        with pytest.raises(RunNotRunning, match=r"not running \(interrupted\)"):
            request_cancel(log, run_id, at=2.0)
        assert not cancel_requested(log, run_id)


def test_an_embedded_run_stops_at_a_request_written_by_another_connection(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock,
    runlog_target: Path | str,
) -> None:  # fmt: skip
    """The request is read between items, at most every POLL_EVERY seconds: the items in
    flight finish and are recorded, nothing else starts."""
    runner.latency = 0.1
    original = runner.run
    other = RunLog(runlog_target)  # another process's connection to the same log

    async def run(action_id: str, inputs: dict[str, Any]) -> Any:
        out = await original(action_id, inputs)
        if len(runner.calls) == 3:
            request_cancel(other, engine.runlog.list_runs(limit=1)[0].id, at=clock.wall())
        return out

    runner.run = run  # type: ignore[method-assign]
    doc = {
        "name": "t",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.keys }}", "batch_size": 2},
                "action": "fake.create",
                "inputs": {"key": "{{ item }}"},
            },
            {"id": "after", "action": "fake.get", "inputs": {"key": "z"}},
        ],
    }
    keys = [f"k{i}" for i in range(20)]
    try:
        result = clock.run(engine.run(validate_workflow(doc, catalog), {"keys": keys}))
    finally:
        other.close()
    assert (result.status, result.failed_step) == ("cancelled", "each")
    step = engine.runlog.steps(result.run_id)[0]
    assert step.status == "cancelled"
    done = step.summary["succeeded"]
    # Read again within 0.25 s of simulated time: two rounds of 0.1 s at most after it.
    assert done == len(runner.applied) and 3 <= done <= 3 + 2 * 3, done
    assert step.summary["skipped"] == 20 - done
    assert engine.runlog.intents.open_in(result.run_id) == []
    assert all(inputs["key"] != "z" for inputs in runner.applied), "no later step ran"
