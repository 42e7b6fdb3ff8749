"""Schema version 5: a run log of the previous release (version 4) opens migrated, and its
runs take a cancel request from any process; each call's attempts have their journal."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from connector.engine.run_cancel import RunNotRunning, cancel_requested, request_cancel
from connector.engine.run_records import MIGRATIONS
from connector.engine.runlog import RunLog
from connector.engine.runlog_migrate import SCHEMA_VERSION, schema_version
from connector.engine.runlog_store import open_store
from connector.errors import InvalidInput


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
