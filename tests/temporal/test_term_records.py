"""How an execution Temporal closed on its own is named and recorded (temporal/closed.py),
without a server: the follower's translation of the result's error, and the run log's rows
after `record_closed` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.engine.run_cancel import cancel_requested
from connector.engine.runlog import ItemRecord, RunLog
from connector.temporal.closed import (
    ClosedByTemporal,
    Execution,
    closed_from_failure,
    on_temporal,
    record_closed,
)


def _failure(cause: BaseException) -> BaseException:
    from temporalio.client import WorkflowFailureError

    return WorkflowFailureError(cause=cause)  # type: ignore[arg-type]


def test_the_followers_error_names_how_temporal_closed_the_execution() -> None:
    from temporalio.exceptions import (
        ApplicationError,
        CancelledError,
        TerminatedError,
        TimeoutError,
        TimeoutType,
    )

    assert closed_from_failure(_failure(TerminatedError("ops cleanup"))) == Execution(
        "TERMINATED", "ops cleanup"
    )
    assert closed_from_failure(_failure(TerminatedError("Workflow terminated"))) == Execution(
        "TERMINATED"
    )
    timeout = TimeoutError("t", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])
    assert closed_from_failure(_failure(timeout)).status == "TIMED_OUT"  # type: ignore[union-attr]
    assert closed_from_failure(_failure(CancelledError())) == Execution("CANCELED")
    assert closed_from_failure(_failure(ApplicationError("ours", type="InvalidInput"))) is None


def test_the_client_raises_it_as_closed_by_temporal() -> None:
    from temporalio.exceptions import TerminatedError

    from connector.temporal.client import _translated

    error = _translated(_failure(TerminatedError("ops cleanup")), "RUN1")
    assert isinstance(error, ClosedByTemporal) and error.exit_code == 1
    assert str(error) == (
        "Temporal terminated the run's workflow execution (TERMINATED, reason: 'ops cleanup');"
        " items recorded before stay; `connector runs retry RUN1` runs the rest"
    )
    assert error.to_dict()["temporal_status"] == "TERMINATED"


@pytest.mark.parametrize(
    ("execution", "status", "says"),
    [
        (Execution("TERMINATED"), "failed", "(TERMINATED, no reason given)"),
        (Execution("TIMED_OUT", "its timeout of 0:00:04 passed"), "failed",
         "timed out on Temporal (TIMED_OUT: its timeout of 0:00:04 passed)"),
        (Execution("CANCELED"), "cancelled", "cancelled through Temporal (CANCELED)"),
        (Execution("FAILED", "boom"), "failed", "failed on Temporal (FAILED: boom)"),
    ],
)  # fmt: skip
def test_each_close_gives_the_runs_status_and_error(
    execution: Execution, status: str, says: str
) -> None:
    assert execution.closed and execution.run_status == status
    assert says in str(execution.error("R"))


@pytest.mark.parametrize("status", ["RUNNING", "COMPLETED", "NOT_FOUND"])
def test_an_open_or_finished_execution_is_not_closed_by_temporal(status: str) -> None:
    assert not Execution(status).closed


def _running_run(log: RunLog) -> str:
    """A run held by Temporal, its loop step running with 2 of its items recorded."""
    run_id = log.create_run(workflow={"name": "w", "steps": []}, trigger={"urls": ["a", "b"]},
                            source_path=None, parent_run_id=None, started_at=1.0)  # fmt: skip
    log.store.execute("UPDATE runs SET pid=NULL, host=NULL WHERE id=?", (run_id,))
    log.write_step(run_id, "first", position=0, kind="action", status="succeeded",
                   definition={}, started_at=1.0, finished_at=2.0)  # fmt: skip
    log.write_step(run_id, "each", position=1, kind="loop", status="running", definition={},
                   started_at=2.0)  # fmt: skip
    log.write_items(run_id, [
        ItemRecord("each", i, "succeeded", u, None, {"ok": i}, None, [], 2.0, 3.0, None)
        for i, u in enumerate(["a", "b"])
    ])  # fmt: skip
    return run_id


def _rows(log: RunLog, run_id: str) -> dict[str, Any]:
    run = log.store.execute(
        "SELECT status, error_json, failed_step, finished_at, cancel_requested_at, pid"
        " FROM runs WHERE id=?",
        (run_id,),
    ).fetchone()
    steps = dict(log.store.execute("SELECT step_id, status FROM steps WHERE run_id=?",
                                   (run_id,)).fetchall())  # fmt: skip
    items = log.store.execute(
        "SELECT idx, status, output_json FROM loop_items WHERE run_id=? ORDER BY idx", (run_id,)
    ).fetchall()
    return {"run": tuple(run), "steps": steps, "items": [tuple(i) for i in items]}


def test_the_run_and_its_running_step_take_the_close_items_stay(
    runlog_target: Path | str,
) -> None:
    with RunLog(runlog_target) as log:
        run_id = _running_run(log)
        before = _rows(log, run_id)
        ((status, pid, host),) = log.store.execute(
            "SELECT status, pid, host FROM runs WHERE id=?", (run_id,)
        ).fetchall()
        assert on_temporal(status, pid, host)
        assert record_closed(log, run_id, Execution("TERMINATED", "stuck"))
        after = _rows(log, run_id)
        status, error, failed_step, finished_at, cancel_at, _ = after["run"]
        assert (status, failed_step) == ("failed", "each")
        assert finished_at is not None and cancel_at is not None
        error = json.loads(error)
        assert error["kind"] == "closed_by_temporal" and error["reason"] == "stuck"
        assert after["steps"] == {"first": "succeeded", "each": "failed"}
        assert after["items"] == before["items"]
        # A range activity still running on a worker starts no further item.
        assert cancel_requested(log, run_id)
        # Recorded once: a second learner (the follower and a `runs show` at once) changes nothing.
        assert not record_closed(log, run_id, Execution("CANCELED"))
        assert _rows(log, run_id) == after
        assert not on_temporal("failed", None, None)


def test_a_cancel_through_temporal_leaves_the_run_cancelled(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.db") as log:
        run_id = _running_run(log)
        assert record_closed(tmp_path / "runs.db", run_id, Execution("CANCELED"))
        rows = _rows(log, run_id)
        assert rows["run"][0] == "cancelled" and rows["steps"]["each"] == "cancelled"


def test_a_run_that_is_not_running_is_left_as_it_is(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.db") as log:
        run_id = _running_run(log)
        log.finish_run(run_id, status="succeeded", finished_at=5.0)
        before = _rows(log, run_id)
        assert not record_closed(log, run_id, Execution("TERMINATED"))
        assert _rows(log, run_id) == before
        assert not record_closed(log, "no-such-run", Execution("TERMINATED"))


def test_with_the_server_unreachable_show_and_cancel_say_so_and_retry_refuses(
    tmp_path: Path,
) -> None:
    """A Temporal address that answers nothing: `runs show`/`list`/`cancel` still do their
    part, saying the run's state on Temporal is unknown; `runs retry` refuses (exit 2)."""
    from .temporal_box import base_env, connector, free_port

    db = tmp_path / "runs.db"
    with RunLog(db) as log:
        run_id = _running_run(log)
    address = f"127.0.0.1:{free_port()}"
    env = base_env(CONNECTOR_RUNLOG=str(db), CONNECTOR_TEMPORAL=address)
    for command in (["show", run_id], ["list"]):
        done = connector("runs", *command, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"note: cannot reach the Temporal server at {address}" in done.stderr
        assert f"run {run_id} is running on Temporal" in done.stderr, done.stderr
    refused = connector("runs", "retry", run_id, env=env, timeout=60)
    assert refused.returncode == 2 and "cannot reach the Temporal server" in refused.stderr
    cancelled = connector("runs", "cancel", run_id, env=env, timeout=60)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "if it has, this cancel has no effect" in cancelled.stderr
    assert "Traceback" not in refused.stderr + cancelled.stderr
    with RunLog(db) as log:
        assert _rows(log, run_id)["run"][0] == "running" and cancel_requested(log, run_id)
