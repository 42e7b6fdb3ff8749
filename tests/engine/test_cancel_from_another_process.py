"""`connector runs cancel RUN` from another process stops an embedded `connector run`
between items (engine/run_cancel.py): what was in flight finishes and is recorded, nothing
new starts, the run ends `cancelled`, and its retry writes each remaining link once.
Exit codes: 0 requested, 1 the run is not running (status named), 2 no such run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .shorten_box import (
    ShortenBox,
    assert_log_agrees_with_store,
    cli,
    create_workflow,
    intents,
    popen,
    read,
    urls,
)

pytestmark = pytest.mark.slow

PREFIX = "https://example.com/cancelled/"


def _wait_for(what: str, check: Any, proc: Any = None, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _run_with_items(db: str, count: int) -> str | None:
    """The run's id once it has recorded `count` items."""
    rows = read(db, "SELECT run_id FROM loop_items")
    return str(rows[0][0]) if len(rows) >= count else None


def test_a_run_cancelled_from_another_process_stops_between_items(
    tmp_path: Path, runlog_target: Path | str
) -> None:
    db = str(runlog_target)
    wanted = urls(PREFIX, 80)  # 8 s or more: far longer than starting the CLI
    workflow = create_workflow(tmp_path / "wf.yaml", batch=2)
    trigger = json.dumps({"urls": wanted})
    with ShortenBox() as box:
        box.set_faults(latency_ms=200)
        run = popen("run", str(workflow), "--trigger", trigger, "--runlog", db, env=box.env)
        try:
            run_id = _wait_for("four items", lambda: _run_with_items(db, 4), run)
            asked = cli("runs", "cancel", run_id, "--runlog", db, env=box.env)
            assert asked.returncode == 0, asked.stderr
            assert f"cancel requested for run {run_id}" in asked.stdout
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        assert run.returncode == 1, (out, err)
        assert f"run {run_id}: cancelled" in out
        ((status, failed_step),) = read(db, "SELECT status, failed_step FROM runs")
        assert (status, failed_step) == ("cancelled", "each")
        items = dict(read(db, "SELECT idx, status FROM loop_items WHERE run_id=?", (run_id,)))
        done = [idx for idx, state in items.items() if state == "succeeded"]
        assert len(items) == 80 and set(items.values()) == {"succeeded", "skipped"}
        assert 4 <= len(done) < 80, "stopped soon after the request, not at the end"
        # What was in flight finished and was recorded: one link per succeeded item, none
        # for the rest, and no write left open.
        links = box.links(PREFIX)
        assert sorted(dest for _, dest, _ in links) == sorted(wanted[i] for i in done)
        assert {state for state, _ in intents(db).values()} == {"applied"}

        # A finished run is not cancelled again (1, its status named); no such run is 2.
        again = cli("runs", "cancel", run_id, "--runlog", db, env=box.env)
        assert again.returncode == 1
        assert again.stderr.strip() == (
            f"error: run {run_id} is not running (cancelled); there is nothing to cancel"
        )
        unknown = cli("runs", "cancel", "no-such-run", "--runlog", db, env=box.env)
        assert unknown.returncode == 2 and "no run with id 'no-such-run'" in unknown.stderr
        assert unknown.stderr.count("\n") == 1

        box.set_faults()
        retried = cli("runs", "retry", run_id, "--runlog", db, env=box.env)
        assert retried.returncode == 0, retried.stderr
        assert_log_agrees_with_store(box, db, PREFIX, wanted)


def test_cancel_with_no_run_log_is_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "runs.db"
    answer = cli("runs", "cancel", "r1", "--runlog", str(missing), env={"PATH": ""})
    assert answer.returncode == 2
    assert answer.stderr.strip() == f"error: RUN: no run log at {missing}; no run 'r1' to cancel"
    assert not missing.parent.exists()
