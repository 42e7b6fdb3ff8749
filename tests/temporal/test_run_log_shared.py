"""The sender writes the run (workflow and trigger) into its run log before sending; a
worker on another run log cannot find it and says so (exit 2, one line), and the run is
left failed in the sender's run log, not running forever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.engine.runlog import RunLog

from ..engine.shorten_box import ShortenBox, create_workflow
from .temporal_box import Worker, base_env, connector

pytestmark = pytest.mark.slow

QUEUE = "other-run-log"


def test_a_worker_on_another_run_log_says_so(temporal_address: str, tmp_path: Path) -> None:
    workflow = create_workflow(tmp_path / "links.yaml")
    with ShortenBox() as box:
        shorten = {k: v for k, v in box.env.items() if k.startswith("SHORTEN_")}
        theirs = base_env(CONNECTOR_HOME=str(tmp_path / "worker-home"), **shorten)
        mine = base_env(CONNECTOR_HOME=str(tmp_path / "my-home"), **shorten)
        worker = Worker(temporal_address, QUEUE, theirs, tmp_path / "worker.log")
        try:
            worker.wait_ready()
            done = connector(
                "run", str(workflow), "--trigger", json.dumps({"urls": ["https://e.com/1"]}),
                "--temporal", temporal_address, "--task-queue", QUEUE, env=mine,
            )  # fmt: skip
        finally:
            worker.stop()
        assert box.count("POST /api/v1/links") == 0  # nothing was sent
    assert done.returncode == 2, done.stderr
    assert "not in this worker's run log" in done.stderr and "share one run log" in done.stderr
    assert "Traceback" not in done.stderr
    with RunLog(tmp_path / "my-home" / "runs.db", readonly=True) as log:
        (run,) = log.list_runs()
    assert run.status == "failed" and run.trigger == {"urls": ["https://e.com/1"]}
    assert "not in this worker's run log" in (run.error or {}).get("message", "")


def test_a_run_held_by_temporal_is_not_retried_while_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector.catalog import load_catalog
    from connector.cli import main
    from connector.engine.workflow import load_workflow
    from connector.temporal.run_start import held_by_temporal, record_run

    db = tmp_path / "runs.db"
    workflow = load_workflow(create_workflow(tmp_path / "links.yaml"), load_catalog())
    record_run(db, "run-1", workflow, {"urls": ["https://e.com/1"]})
    with RunLog(db) as log:
        held_by_temporal(log, "run-1")  # a worker began it: no process holds it
        run = log.get_run("run-1")
    assert run.pid is None and run.display_status == "running"  # not `interrupted`
    assert main(["runs", "retry", "run-1", "--runlog", str(db)]) == 2
    err = capsys.readouterr().err
    # Without a Temporal server to ask, whether its execution is open is unknown: refused
    # (with one, a closed execution is recorded first: test_terminated_runs.py).
    assert "run run-1 is running on Temporal (workflow id run-1)" in err
    assert "unknown here" in err and "--temporal HOST:PORT" in err
