"""A process running a composite (Campaign Performance Report) whose first request fails 503
every time is killed with SIGKILL after its third try, during the wait: another process
running the same step again sends that request twice more only. The Bitly sandbox counts 5
in all, as the policy allows, not 3 + 5 (attempt_journal.py, request_tries.py). On SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.engine.executor import StepFailed
from connector.engine.runlog import RunLog
from connector.sandbox.config import DEMO_BITLY_TOKEN

from .failing_bitly import CAMPAIGN, FailingBitly, failing_bitly
from .journaled_step import run_step
from .shorten_box import ROOT

pytestmark = pytest.mark.slow

DOC: dict[str, Any] = {
    "name": "a report",
    # 2 s between tries: the kill lands inside the wait after try 3.
    "retry": {"max_attempts": 5, "initial_delay": 2.0, "multiplier": 1, "jitter": 0.0},
    "steps": [
        {
            "id": "report",
            "action": "bitly.campaign_performance_report",
            "inputs": {"campaign_guid": CAMPAIGN},
        }
    ],
}


@pytest.fixture
def bitly() -> Iterator[FailingBitly]:
    with failing_bitly() as box:
        yield box


def test_a_composites_tries_made_by_a_killed_process_count(
    runlog_target: Path | str, bitly: FailingBitly
) -> None:
    url, sent = bitly.url, bitly.reads
    db = str(runlog_target)
    with RunLog(db) as log:
        run_id = log.create_run(
            workflow=DOC, trigger=None, source_path=None, parent_run_id=None, started_at=1.0
        )
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("journaled_step.py")), db, run_id, url,
         DEMO_BITLY_TOKEN, "bitly"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while sent() < 3:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, f"the child made no third try: {sent()}"
            time.sleep(0.01)
        time.sleep(0.3)  # its answer is in, the 2 s wait under way
    finally:
        child.kill()
        child.communicate()
    assert sent() == 3

    with pytest.raises(StepFailed) as failed:  # try 5 failed too
        asyncio.run(run_step(db, run_id, url, DEMO_BITLY_TOKEN, "bitly"))
    assert failed.value.error["status"] == 503
    assert sent() == 5, "tries 4 and 5 only: 5 in all"
    with RunLog(db, readonly=True) as log:
        (step,) = log.steps(run_id)
    assert step.status == "failed"
    tries = [(t["try"], t["result"]) for a in step.attempts for t in a.get("requests", ())]
    assert tries == [(n, "failed") for n in range(1, 6)], step.attempts
