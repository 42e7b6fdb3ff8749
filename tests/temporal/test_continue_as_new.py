"""A loop longer than one workflow execution should hold: the mechanism a 1,000,000-item loop
relies on, at a small scale. With 3 items per activity and 2 activities per execution, 23
items take 8 activities over 4 executions (continue-as-new), and the run is whole: every
item once in the run log and in the sandbox, the loop's output in item order."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ..engine.shorten_box import ShortenBox, create_workflow
from .temporal_box import Worker, base_env, connector, temporal_binary

pytestmark = pytest.mark.slow

QUEUE = "continue-as-new"


def _executions(address: str, run_id: str) -> list[dict[str, Any]]:
    """Every execution Temporal holds for the run's workflow id, newest first."""
    done = subprocess.run(
        [str(temporal_binary()), "workflow", "list", "--address", address,
         "--query", f"WorkflowId = '{run_id}'", "--output", "json"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return listed


def test_a_long_loop_continues_as_new(
    temporal_address: str, pg_server: Any, tmp_path: Path
) -> None:
    prefix = "https://example.com/can/"
    urls = [f"{prefix}{i:02d}" for i in range(23)]
    workflow = create_workflow(tmp_path / "links.yaml", batch=2)
    with ShortenBox() as box:
        env = {**base_env(CONNECTOR_RUNLOG=pg_server.database_url()),
               **{k: v for k, v in box.env.items() if k.startswith("SHORTEN_")}}  # fmt: skip
        worker = Worker(temporal_address, QUEUE, env, tmp_path / "worker.log")
        try:
            worker.wait_ready()
            done = connector(
                "run", str(workflow), "--trigger", json.dumps({"urls": urls}), "--json",
                "--temporal", temporal_address, "--task-queue", QUEUE,
                "--items-per-activity", "3", "--activities-per-execution", "2",
                "--activities-in-flight", "2", env=env,
            )  # fmt: skip
        finally:
            worker.stop()
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["output"]["summary"] == {
            "total": 23, "succeeded": 23, "failed": 0, "skipped": 0,
        }  # fmt: skip
        slugs = [item["link"]["slug"] for item in result["output"]["items"]]
        by_slug = {slug: dest for slug, dest, _ in box.links(prefix)}
        assert [by_slug[slug] for slug in slugs] == urls  # in item order
        assert Counter(by_slug.values()) == Counter(urls)  # each once

    deadline = time.monotonic() + 20
    while True:
        executions = _executions(temporal_address, result["run_id"])
        statuses = Counter(str(e.get("status", "")) for e in executions)
        if sum(statuses.values()) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(executions) == 4, executions
    assert sum(n for s, n in statuses.items() if "CONTINUED_AS_NEW" in s.upper()) == 3, statuses
