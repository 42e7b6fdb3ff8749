"""The service cancels a run that another process runs (a `connector run` sharing its
PostgreSQL run log): the request goes into the run log, and that process stops between
items, finishes what was in flight and ends the run `cancelled`."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connector.service import ServiceConfig

from ..engine.shorten_box import ShortenBox, create_workflow, intents, popen, read, urls
from .helpers import AUTH, client_for

pytestmark = pytest.mark.slow

PREFIX = "https://example.com/elsewhere/"


def test_the_service_cancels_a_run_of_another_process(
    config: ServiceConfig, pg_server: Any, tmp_path: Path
) -> None:
    url = pg_server.database_url()
    wanted = urls(PREFIX, 80)
    workflow = create_workflow(tmp_path / "wf.yaml", batch=2)
    with ShortenBox() as box:
        box.set_faults(latency_ms=200)
        run = popen(
            "run", str(workflow), "--trigger", json.dumps({"urls": wanted}), "--runlog", url,
            env=box.env,
        )  # fmt: skip
        try:
            run_id = _started(url, run)
            answers = asyncio.run(_cancel_twice(replace(config, runlog=url), run_id))
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        assert answers[0] == (202, {"run_id": run_id, "status": "cancelling"})
        assert run.returncode == 1 and f"run {run_id}: cancelled" in out, (out, err)
        after, again, unknown = answers[1:]
        assert after[0] == 200 and after[1]["status"] == "cancelled"
        assert again[0] == 409 and "not running (cancelled)" in again[1]["detail"]
        assert unknown[0] == 404
        items = dict(read(url, "SELECT idx, status FROM loop_items WHERE run_id=?", (run_id,)))
        done = {idx for idx, state in items.items() if state == "succeeded"}
        assert 0 < len(done) < len(wanted) and len(items) == len(wanted)
        assert sorted(d for _, d, _ in box.links(PREFIX)) == sorted(wanted[i] for i in done)
        assert {state for state, _ in intents(url).values()} == {"applied"}


def _started(url: str, run: Any) -> str:
    """The run's id once it has recorded a few items."""
    deadline = time.monotonic() + 60
    while True:
        rows = read(url, "SELECT run_id FROM loop_items")
        if len(rows) >= 4:
            return str(rows[0][0])
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run recorded no items"
        time.sleep(0.02)


async def _cancel_twice(config: ServiceConfig, run_id: str) -> list[tuple[int, Any]]:
    """Cancel, wait for the run to end, read it, cancel again, cancel an unknown run."""
    answers: list[tuple[int, Any]] = []
    async with client_for(config) as client:
        first = await client.post(f"/v1/runs/{run_id}/cancel", headers=AUTH)
        answers.append((first.status_code, first.json()))
        deadline = time.monotonic() + 60
        while True:
            view = await client.get(f"/v1/runs/{run_id}", headers=AUTH)
            if view.json()["status"] != "running" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        answers.append((view.status_code, view.json()))
        for target in (run_id, "no-such-run"):
            answer = await client.post(f"/v1/runs/{target}/cancel", headers=AUTH)
            answers.append((answer.status_code, answer.json()))
    return answers
