"""Three worker processes share a 10,000-item loop of writes against the shorten.dev sandbox
(30 ms latency, 10% of requests faulted: 5xx, dropped connections, writes applied and then
cut off); one worker is killed with SIGKILL mid-loop. The run completes, no item is lost, no
write is duplicated (the sandbox's own store says so) and the run log agrees with the store.

Temporal gives the dead worker's activities to the others once their heartbeat stops; each
resumes from the run log: items already recorded are not run again, and a write cut off
mid-flight left an open intent that is read back before anything is resent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ..engine.shorten_box import ShortenBox, assert_log_agrees_with_store, create_workflow, read
from .temporal_box import ROOT, Worker, base_env, connector

pytestmark = pytest.mark.slow

#: items in the loop (CONNECTOR_TEST_KILL_ITEMS to try other sizes)
ITEMS = int(os.environ.get("CONNECTOR_TEST_KILL_ITEMS", "10000"))
FAST_RETRY = {"max_attempts": 5, "initial_delay": 0.005, "multiplier": 2, "max_delay": 0.02}
QUEUE = "kill-a-worker"


def _finished(db: str, run_id: str | None) -> int:
    if run_id is None:
        return 0
    rows = read(db, "SELECT count(*) FROM loop_items WHERE run_id=?", (run_id,))
    return int(rows[0][0])


def _newest_run(db: str) -> str | None:
    try:
        rows = read(db, "SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
    except AssertionError:
        return None
    return str(rows[0][0]) if rows else None


def test_killing_a_worker_mid_loop_loses_nothing_and_duplicates_nothing(
    temporal_address: str, pg_server: Any, tmp_path: Path
) -> None:
    prefix = "https://example.com/kill/"
    urls = [f"{prefix}{i:05d}" for i in range(ITEMS)]
    workflow = create_workflow(tmp_path / "links.yaml", retry=FAST_RETRY, batch=5)
    trigger = tmp_path / "trigger.json"
    trigger.write_text(json.dumps({"urls": urls}))
    db = pg_server.database_url()
    with ShortenBox() as box:
        box.set_faults(
            latency_ms=30, error_rate=0.05, drop_rate=0.025, lost_write_rate=0.025, seed=12
        )
        env = {**box.env, **base_env(CONNECTOR_RUNLOG=db, **_box_env(box))}
        workers = [
            Worker(temporal_address, QUEUE, env, tmp_path / f"worker{n}.log", limitless=True)
            for n in range(3)
        ]
        try:
            for worker in workers:
                worker.wait_ready()
            started = time.monotonic()
            run = subprocess.Popen(
                [sys.executable, "-m", "connector", "run", str(workflow), "--trigger",
                 f"@{trigger}", "--json", "--temporal", temporal_address, "--task-queue",
                 QUEUE, "--heartbeat-timeout", "5"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            # Kill one worker once a fifth of the loop is recorded.
            run_id = None
            while _finished(db, run_id) < ITEMS // 5:
                assert run.poll() is None, run.communicate()
                assert time.monotonic() - started < 300, "the loop did not get going"
                run_id = run_id or _newest_run(db)
                time.sleep(0.2)
            workers[0].kill()
            killed_at = _finished(db, run_id)
            stdout, stderr = run.communicate(timeout=900)
            elapsed = time.monotonic() - started
        finally:
            for worker in workers:
                worker.stop()
        print(f"\n{ITEMS} items, 3 workers, one killed at {killed_at}: {elapsed:.1f} s")
        result = json.loads(stdout)
        if run.returncode == 1:
            # An item that met five faults in a row fails, as the policy says (at most five
            # attempts); the retry runs only those, over the same workers' queue.
            _only_exhausted_retries(db, result["run_id"])
            workers = [Worker(temporal_address, QUEUE, env, tmp_path / "again.log",
                              limitless=True)]  # fmt: skip
            try:
                workers[0].wait_ready()
                again = connector("runs", "retry", result["run_id"], "--json", "--temporal",
                                  temporal_address, "--task-queue", QUEUE, env=env)  # fmt: skip
            finally:
                workers[0].stop()
            assert again.returncode == 0, again.stderr
            result = json.loads(again.stdout)
        assert run.returncode in (0, 1), stderr
        assert result["status"] == "succeeded", result["error"]
        assert killed_at < ITEMS  # the kill did land mid-loop

        # No item lost, none written twice: the sandbox holds exactly one link per URL, and
        # the run log's intents say applied, each with that very link.
        assert_log_agrees_with_store(box, db, prefix, urls)
        slug_of = {dest: slug for slug, dest, _ in box.links(prefix)}
        items = read(
            db,
            "SELECT idx, status, output_json FROM loop_items WHERE run_id=? ORDER BY idx",
            (result["run_id"],),
        )
        assert [row[0] for row in items] == list(range(ITEMS))
        for idx, status, output in items:
            assert status == "succeeded", (idx, status)
            assert json.loads(output)["link"]["slug"] == slug_of[urls[idx]], idx
        # Every create that the sandbox counted either made a link or was refused as a
        # duplicate slug (a resend under the same key after a lost answer): never a second.
        assert box.count("POST /api/v1/links") >= ITEMS


def _box_env(box: ShortenBox) -> dict[str, str]:
    return {k: v for k, v in box.env.items() if k.startswith("SHORTEN_")}


def _only_exhausted_retries(db: str, run_id: str) -> None:
    """The run failed only by items whose five attempts all met a retryable fault."""
    rows = read(
        db,
        "SELECT idx, error_json, attempts_json FROM loop_items WHERE run_id=? AND status<>?",
        (run_id, "succeeded"),
    )
    assert rows, "the run failed with no failed item"
    for idx, error, attempts in rows:
        kinds = [a.get("call", "send") for a in json.loads(attempts)]
        kind = json.loads(error)["kind"]
        assert kind in ("server_error", "transport", "outcome_unknown"), (idx, error)
        assert kinds.count("send") <= 5, (idx, kinds)
