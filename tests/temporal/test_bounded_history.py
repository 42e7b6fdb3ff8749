"""A loop's workflow history stays bounded however long the loop is: what a 1,000,000-item
loop relies on, proven at a scale CI runs in well under a minute.

600 items in ranges of 5, 20 ranges per execution: 120 ranges over 6 executions
(continue-as-new). Each execution's history, read back through Temporal's history API,
stays under a bound set by the ranges per execution alone (at most 6 events per range, and
a few for the run's own activities), the same in the last execution as in the first; no
event carries the trigger, though the trigger (2.3 MB) is larger than the 2 MB Temporal
allows one payload; and the run's output is the embedded engine's, item for item.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connector.sandbox.config import DEMO_SHORTEN_KEY

from ..engine.shorten_box import FAST_RETRY, ShortenBox
from .temporal_box import ROOT, Worker, base_env, connector

pytestmark = pytest.mark.slow

QUEUE = "bounded-history"
ITEMS, PER_ACTIVITY, PER_EXECUTION = 600, 5, 20
#: events of one range: scheduled, started, completed, and at worst a workflow task of 3
PER_RANGE = 6
#: the run's own activities and the execution's start, end and first workflow task
OVERHEAD = 40
NOTE = "n" * 3800  # each item's note: 600 of them make a trigger over 2 MB


def _histories(address: str, run_id: str) -> list[dict[str, Any]]:
    """Each execution's events, bytes and largest event, oldest first (read in a process
    apart from pytest, as every Temporal client here is)."""
    done = subprocess.run(
        [sys.executable, "-m", "connector.temporal.history", "--temporal", address, run_id],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_history_per_execution_stays_bounded_and_the_output_is_the_embedded_one(
    temporal_address: str, pg_server: Any, tmp_path: Path
) -> None:
    with ShortenBox() as box:
        api = box.env["SHORTEN_API_URL"]
        slugs = []
        for n in range(5):
            made = httpx.post(
                f"{api}/links",
                json={"destination_url": f"https://example.com/bounded/{n}"},
                headers={"Authorization": f"Bearer {DEMO_SHORTEN_KEY}"},
            )
            made.raise_for_status()
            slugs.append(made.json()["link"]["slug"])
        items = [{"slug": slugs[i % 5], "note": NOTE} for i in range(ITEMS)]
        trigger = tmp_path / "trigger.json"
        trigger.write_text(json.dumps({"links": items}))
        assert trigger.stat().st_size > 2 * 2**20  # more than one Temporal payload may hold
        workflow = tmp_path / "read.yaml"
        workflow.write_text(yaml.safe_dump({
            "name": "read every link",
            "retry": FAST_RETRY,
            "steps": [{
                "id": "each",
                "loop": {"over": "{{ trigger.links }}", "batch_size": 5},
                "action": "shorten_dev.get_link",
                "inputs": {"slug": "{{ item.slug }}"},
            }],
        }))  # fmt: skip
        env = {**base_env(CONNECTOR_RUNLOG=pg_server.database_url()),
               **{k: v for k, v in box.env.items() if k.startswith("SHORTEN_")}}  # fmt: skip
        embedded = connector("run", str(workflow), "--trigger", f"@{trigger}", "--json", env=env)
        worker = Worker(temporal_address, QUEUE, env, tmp_path / "worker.log")
        try:
            worker.wait_ready()
            on_temporal = connector(
                "run", str(workflow), "--trigger", f"@{trigger}", "--json",
                "--temporal", temporal_address, "--task-queue", QUEUE,
                "--items-per-activity", str(PER_ACTIVITY),
                "--activities-per-execution", str(PER_EXECUTION),
                "--activities-in-flight", "4", env=env,
            )  # fmt: skip
        finally:
            worker.stop()
    assert embedded.returncode == 0, embedded.stderr
    assert on_temporal.returncode == 0, on_temporal.stderr + worker.log.read_text()[-3000:]
    a, b = json.loads(embedded.stdout), json.loads(on_temporal.stdout)
    assert b["output"]["summary"] == {"total": ITEMS, "succeeded": ITEMS, "failed": 0, "skipped": 0}
    assert (a["status"], a["output"], a["error"]) == (b["status"], b["output"], b["error"])
    assert [i["link"]["slug"] for i in b["output"]["items"]] == [i["slug"] for i in items]

    executions = _histories(temporal_address, b["run_id"])
    ranges = ITEMS // PER_ACTIVITY
    assert len(executions) == ranges // PER_EXECUTION  # 6: 5 continued as new
    assert [e["status"] for e in executions] == ["CONTINUED_AS_NEW"] * 5 + ["COMPLETED"]
    bound = PER_RANGE * PER_EXECUTION + OVERHEAD
    for execution in executions:
        assert PER_EXECUTION * 3 <= execution["events"] <= bound, executions
        # Payloads name the run and a range: never the trigger, nor an item.
        assert execution["largest_event"] < 4096, executions
    # The last full execution is no longer than the first: nothing accumulates.
    first, last = executions[0]["events"], executions[-2]["events"]
    assert last <= first + 2 * PER_RANGE, executions
