"""`connector runs cancel RUN [--home DIR | --runlog URL] [--json]`, in-process: exit 0 when
the request is recorded, 1 naming the status of a run that is not running, 2 for an unknown
run; one line each, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.cli import main
from connector.engine.run_cancel import cancel_requested
from connector.engine.runlog import RunLog


def test_runs_cancel_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with RunLog.in_home(tmp_path) as log:
        running = log.create_run(
            workflow={"name": "w"}, trigger=None, source_path=None, parent_run_id=None,
            started_at=1.0,
        )  # fmt: skip
        done = log.create_run(
            workflow={"name": "w"}, trigger=None, source_path=None, parent_run_id=None,
            started_at=2.0,
        )  # fmt: skip
        log.finish_run(done, status="succeeded", finished_at=3.0)

    assert main(["runs", "cancel", running, "--home", str(tmp_path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == running and shown["status"] == "cancelling"
    assert main(["runs", "cancel", running, "--home", str(tmp_path)]) == 0  # asked again
    assert f"cancel requested for run {running}" in capsys.readouterr().out
    with RunLog.in_home(tmp_path, readonly=True) as log:
        assert cancel_requested(log, running) and not cancel_requested(log, done)

    assert main(["runs", "cancel", done, "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: run {done} is not running (succeeded); there is nothing to cancel\n"
    assert main(["runs", "cancel", "nope", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run with id 'nope'" in err
