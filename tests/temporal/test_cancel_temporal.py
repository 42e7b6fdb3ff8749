"""A run on Temporal workers is cancelled from another process: `connector runs cancel`
(the CLI) and the service's cancel each record the request in the shared PostgreSQL run
log; the workers' range activities read it between items, finish what is in flight, and
the workflow schedules no other range: the run ends `cancelled`, and `runs retry
--temporal` finishes it with one link per URL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connector.service import ServiceConfig

from ..engine.shorten_box import (
    ShortenBox,
    assert_log_agrees_with_store,
    create_workflow,
    intents,
    popen,
    read,
    urls,
)
from ..service.helpers import AUTH, KEY, client_for
from .temporal_box import connector, shorten_worker

pytestmark = pytest.mark.slow

QUEUE = "cancel"


@pytest.fixture(scope="module")
def setup(
    temporal_address: str, pg_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ShortenBox, dict[str, str], Path]]:
    """The shorten.dev sandbox, a PostgreSQL run log and one `connector worker`."""
    folder = tmp_path_factory.mktemp("cancel")
    with shorten_worker(temporal_address, pg_server.database_url(), folder, QUEUE) as (box, env):
        yield box, env, folder


def _start(box: ShortenBox, env: dict[str, str], folder: Path, prefix: str) -> tuple[Any, str]:
    """`connector run --temporal` of 80 slow writes, in ranges of 10, two at a time; its
    process and its run's id once a few items are recorded."""
    box.set_faults(latency_ms=200)
    workflow = create_workflow(folder / f"{len(prefix)}.yaml", batch=2)
    run = popen(
        "run", str(workflow), "--trigger", json.dumps({"urls": urls(prefix, 80)}),
        "--task-queue", QUEUE, "--items-per-activity", "10", "--activities-in-flight", "2",
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    url = env["CONNECTOR_RUNLOG"]
    while True:
        rows = read(url, "SELECT l.run_id FROM loop_items l JOIN runs r ON r.id = l.run_id"
                    " WHERE r.status='running'")  # fmt: skip
        if len(rows) >= 4:
            return run, str(rows[0][0])
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run recorded no items"
        time.sleep(0.05)


def _ended_cancelled(
    run: Any, run_id: str, box: ShortenBox, env: dict[str, str], prefix: str
) -> None:
    try:
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1 and f"run {run_id}: cancelled" in out, (out, err)
    url = env["CONNECTOR_RUNLOG"]
    ((status, failed_step),) = read(url, "SELECT status, failed_step FROM runs WHERE id=?",
                                    (run_id,))  # fmt: skip
    assert (status, failed_step) == ("cancelled", "each")
    ((step_status,),) = read(url, "SELECT status FROM steps WHERE run_id=?", (run_id,))
    assert step_status == "cancelled"
    items = dict(read(url, "SELECT idx, status FROM loop_items WHERE run_id=?", (run_id,)))
    done = {idx for idx, state in items.items() if state == "succeeded"}
    assert len(items) == 80 and set(items.values()) == {"succeeded", "skipped"}
    assert 4 <= len(done) <= 60, "no range started after the cancel"
    # In flight finished and recorded: a link per succeeded item, none for the others.
    wanted = urls(prefix, 80)
    assert sorted(d for _, d, _ in box.links(prefix)) == sorted(wanted[i] for i in done)
    assert {state for state, _ in intents(url).values()} <= {"applied"}

    box.set_faults()
    retried = connector("runs", "retry", run_id, "--task-queue", QUEUE, env=env)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert_log_agrees_with_store(box, url, prefix, wanted)


def test_the_cli_cancels_a_run_on_temporal_workers(
    setup: tuple[ShortenBox, dict[str, str], Path],
) -> None:
    box, env, folder = setup
    prefix = "https://example.com/cancel-cli/"
    run, run_id = _start(box, env, folder, prefix)
    asked = connector("runs", "cancel", run_id, env=env)
    assert asked.returncode == 0, asked.stderr
    _ended_cancelled(run, run_id, box, env, prefix)
    again = connector("runs", "cancel", run_id, env=env)
    assert again.returncode == 1 and "not running (succeeded)" not in again.stderr
    assert f"run {run_id} is not running (cancelled)" in again.stderr


def test_the_service_cancels_a_run_on_temporal_workers(
    setup: tuple[ShortenBox, dict[str, str], Path], tmp_path: Path
) -> None:
    box, env, folder = setup
    prefix = "https://example.com/cancel-service/"
    run, run_id = _start(box, env, folder, prefix)
    config = ServiceConfig(home=tmp_path / "home", api_keys=(KEY,), sandbox=True)
    config = replace(config, runlog=env["CONNECTOR_RUNLOG"])

    async def cancel() -> tuple[int, Any]:
        async with client_for(config) as client:
            answer = await client.post(f"/v1/runs/{run_id}/cancel", headers=AUTH)
            return answer.status_code, answer.json()

    assert asyncio.run(cancel()) == (202, {"run_id": run_id, "status": "cancelling"})
    _ended_cancelled(run, run_id, box, env, prefix)
