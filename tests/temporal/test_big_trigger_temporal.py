"""`connector run --temporal --trigger @FILE` of a file past every other document's bound
(4 MiB): the sender writes the trigger into the shared run log (it never travels through
Temporal, whose payloads stop at 2 MB), and the worker reads it back whole. One step counts
every row on the worker; a loop sends the last three rows to the sandbox."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.engine.runlog import RunLog
from connector.safe_load import MAX_BYTES

from ..engine.shorten_box import FAST_RETRY, ShortenBox
from .temporal_box import Worker, base_env, connector

pytestmark = pytest.mark.slow

QUEUE = "big-trigger"
PREFIX = "https://example.com/big/"
ROWS = 120_000

WORKFLOW = {
    "name": "a big trigger on Temporal",
    "retry": FAST_RETRY,
    "steps": [
        {"id": "rows", "aggregate": {"over": "{{ trigger.urls }}",
                                     "fields": {"rows": {"count": True}}}},
        {"id": "each", "loop": {"over": "{{ trigger.urls[-3:] }}", "batch_size": 3},
         "action": "shorten_dev.create_link", "inputs": {"destination_url": "{{ item }}"}},
    ],
    "output": {"rows": "{{ steps.rows.output.rows }}",
               "summary": "{{ steps.each.output.summary }}"},
}  # fmt: skip


def test_a_trigger_file_past_4_mib_runs_on_temporal(
    temporal_address: str, pg_server: Any, tmp_path: Path
) -> None:
    urls = [f"{PREFIX}{i:06d}" for i in range(ROWS)]
    trigger = tmp_path / "rows.json"
    trigger.write_text(json.dumps({"urls": urls}, indent=4))
    assert trigger.stat().st_size > MAX_BYTES  # refused before trigger files had their bound
    workflow = tmp_path / "big.yaml"
    workflow.write_text(yaml.safe_dump(WORKFLOW))
    runlog = pg_server.database_url()
    with ShortenBox() as box:
        env = {**base_env(CONNECTOR_RUNLOG=runlog),
               **{k: v for k, v in box.env.items() if k.startswith("SHORTEN_")}}  # fmt: skip
        worker = Worker(temporal_address, QUEUE, env, tmp_path / "worker.log")
        try:
            worker.wait_ready()
            done = connector(
                "run", str(workflow), "--trigger", f"@{trigger}", "--json",
                "--temporal", temporal_address, "--task-queue", QUEUE, env=env, timeout=300,
            )  # fmt: skip
        finally:
            worker.stop()
        log_tail = (tmp_path / "worker.log").read_text()[-3000:]
        assert done.returncode == 0, (done.stderr[-3000:], log_tail)
        result = json.loads(done.stdout)
        assert result["output"] == {
            "rows": ROWS,
            "summary": {"total": 3, "succeeded": 3, "failed": 0, "skipped": 0},
        }
        assert box.per_destination(PREFIX) == Counter(urls[-3:])  # each once
    with RunLog(runlog, readonly=True) as log:
        assert log.get_run(result["run_id"]).trigger == {"urls": urls}
