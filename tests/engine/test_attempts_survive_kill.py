"""A process making a call's attempts is killed with SIGKILL after attempt 3 failed, during
its wait: another process running the same step again makes attempts 4 and 5 only. The
sandbox counts 5 requests in all, and the step's row lists all 5 (attempt_journal.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from connector.engine.executor import StepFailed
from connector.engine.runlog import RunLog

from .journaled_step import run_step
from .shorten_box import ROOT, ShortenBox

pytestmark = pytest.mark.slow

READ = "GET /api/v1/links/{slug}"
DOC: dict[str, Any] = {
    "name": "a read",
    # 2 s between attempts: the kill lands inside the wait after attempt 3.
    "retry": {"max_attempts": 5, "initial_delay": 2.0, "multiplier": 1, "jitter": 0.0},
    "steps": [{"id": "get", "action": "shorten_dev.get_link", "inputs": {"slug": "abc1234"}}],
}


def test_attempts_made_by_a_killed_process_count(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    with RunLog(db) as log:
        run_id = log.create_run(
            workflow=DOC, trigger=None, source_path=None, parent_run_id=None, started_at=1.0
        )
    with ShortenBox() as box:
        box.set_faults(error_rate=1.0)  # every attempt fails, retryably
        url, key = box.env["SHORTEN_API_URL"], box.env["SHORTEN_API_KEY"]
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("journaled_step.py")), db, run_id,
             url, key],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while box.count(READ) < 3:
                assert child.poll() is None, child.communicate()
                assert time.monotonic() < deadline, "the child made no third attempt"
                time.sleep(0.01)
            time.sleep(0.3)  # its answer is in, the 2 s wait under way
        finally:
            child.kill()
            child.communicate()
        assert box.count(READ) == 3

        with pytest.raises(StepFailed):  # attempt 5 failed too
            asyncio.run(run_step(db, run_id, url, key))
        assert box.count(READ) == 5, "attempts 4 and 5 only: 5 in all"
    with RunLog(db, readonly=True) as log:
        (step,) = log.steps(run_id)
    assert step.status == "failed"
    assert [a["attempt"] for a in step.attempts] == [1, 2, 3, 4, 5]
    assert [a["result"] for a in step.attempts] == ["failed"] * 5
