"""Runs whose workflow execution Temporal itself closed, against a real dev server, a worker,
a PostgreSQL run log and the shorten.dev sandbox.

An operator's terminate (the `temporal` CLI) of a run being followed: `connector run
--temporal` records it failed with the reason, and `runs retry` finishes it with one link
per URL. The same terminate of a run nobody follows: `runs show`/`retry` without a Temporal
address say it is unknown, `runs cancel` with one records it. A cancel through Temporal of
an unfollowed run: `runs retry` records it `cancelled` and finishes it. A workflow execution
timeout: `runs list` records it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..engine.shorten_box import ShortenBox, create_workflow, popen, read, urls
from .temporal_box import ROOT, connector, shorten_worker, temporal_binary

pytestmark = pytest.mark.slow

QUEUE = "term"
#: items a run loops over; at the slow latency set once some are recorded, the rest take
#: far longer than any test waits, so the close always lands mid-loop
ITEMS = 60
SLOW_MS = 1500


@pytest.fixture(scope="module")
def setup(
    temporal_address: str, pg_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ShortenBox, dict[str, str], Path]]:
    """The shorten.dev sandbox, a PostgreSQL run log and one `connector worker`."""
    folder = tmp_path_factory.mktemp("term")
    with shorten_worker(temporal_address, pg_server.database_url(), folder, QUEUE) as (box, env):
        yield box, env, folder


def _temporal(env: dict[str, str], *args: str) -> None:
    """The `temporal` CLI, as an operator uses it, on the test's server."""
    done = subprocess.run(
        [str(temporal_binary()), "workflow", *args, "--address", env["CONNECTOR_TEMPORAL"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _run_id(env: dict[str, str], prefix: str, run: Any = None, items: int = 4) -> str:
    """The id of the run over `prefix`'s URLs once a worker began it and it recorded
    `items` items."""
    url = env["CONNECTOR_RUNLOG"]
    deadline = time.monotonic() + 120
    while True:
        rows = read(url, "SELECT r.id, count(l.idx) FROM runs r LEFT JOIN loop_items l"
                    " ON l.run_id = r.id WHERE r.trigger_json LIKE ? AND r.pid IS NULL"
                    " GROUP BY r.id", (f"%{prefix}%",))  # fmt: skip
        if rows and rows[0][1] >= items:
            return str(rows[0][0])
        if run is not None:
            assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, f"the run over {prefix} recorded no items"
        time.sleep(0.05)


def _start(box: ShortenBox, env: dict[str, str], folder: Path, prefix: str) -> tuple[Any, str]:
    """`connector run --temporal` of ITEMS writes, in ranges of 10, two at a time; once it
    recorded a few, the sandbox is slowed, so the run cannot end before the test closes it."""
    box.set_faults(latency_ms=100)
    workflow = create_workflow(folder / f"{prefix.split('/')[-2]}.yaml", batch=2)
    run = popen(
        "run", str(workflow), "--trigger", json.dumps({"urls": urls(prefix, ITEMS)}),
        "--task-queue", QUEUE, "--items-per-activity", "10", "--activities-in-flight", "2",
        env=env,
    )  # fmt: skip
    run_id = _run_id(env, prefix, run)
    box.set_faults(latency_ms=SLOW_MS)
    return run, run_id


def _row(env: dict[str, str], run_id: str) -> tuple[str, dict[str, Any] | None, str | None]:
    ((status, error, failed_step),) = read(
        env["CONNECTOR_RUNLOG"],
        "SELECT status, error_json, failed_step FROM runs WHERE id=?",
        (run_id,),
    )
    return status, json.loads(error) if error else None, failed_step


def _retried_to_one_link_each(
    box: ShortenBox, env: dict[str, str], run_id: str, prefix: str, *extra: str
) -> None:
    """`runs retry` finishes the run; every URL has exactly one link (the sandbox's store)
    and the lineage's every write is applied, with that link as its output."""
    box.set_faults()
    retried = connector("runs", "retry", run_id, "--task-queue", QUEUE, *extra, env=env)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    wanted = urls(prefix, ITEMS)
    links = box.links(prefix)
    assert Counter(dest for _, dest, _ in links) == Counter(wanted), links
    slug_of = {dest: slug for slug, dest, _ in links}
    writes = read(
        env["CONNECTOR_RUNLOG"],
        "SELECT idx, state, output_json FROM intents WHERE lineage=? AND step_id='each'",
        (run_id,),
    )
    assert sorted(idx for idx, _, _ in writes) == list(range(ITEMS))
    for idx, state, output in writes:
        assert state == "applied", (idx, state)
        assert json.loads(output)["link"]["slug"] == slug_of[wanted[idx]], idx


def test_a_followed_run_terminated_by_an_operator_is_failed_with_the_reason(
    setup: tuple[ShortenBox, dict[str, str], Path],
) -> None:
    box, env, folder = setup
    prefix = "https://example.com/term-followed/"
    run, run_id = _start(box, env, folder, prefix)
    _temporal(env, "terminate", "--workflow-id", run_id, "--reason", "operator cleanup")
    try:
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1 and f"run {run_id}: failed" in out, (out, err)
    assert "Traceback" not in err
    status, error, failed_step = _row(env, run_id)
    assert status == "failed" and failed_step == "each", (status, failed_step)
    assert error is not None and error["kind"] == "closed_by_temporal", error
    assert error["temporal_status"] == "TERMINATED" and error["reason"] == "operator cleanup"
    assert "terminated" in error["message"] and "'operator cleanup'" in error["message"]
    assert "operator cleanup" in out
    ((step_status,),) = read(env["CONNECTOR_RUNLOG"], "SELECT status FROM steps WHERE run_id=?",
                             (run_id,))  # fmt: skip
    assert step_status == "failed"
    recorded = read(env["CONNECTOR_RUNLOG"], "SELECT count(*) FROM loop_items WHERE run_id=?"
                    " AND status='succeeded'", (run_id,))  # fmt: skip
    assert recorded[0][0] >= 4, "the items recorded before the terminate stay"
    _retried_to_one_link_each(box, env, run_id, prefix)


def test_an_unfollowed_terminated_run_is_unknown_without_temporal_and_cancel_records_it(
    setup: tuple[ShortenBox, dict[str, str], Path],
) -> None:
    box, env, folder = setup
    prefix = "https://example.com/term-alone/"
    run, run_id = _start(box, env, folder, prefix)
    run.send_signal(signal.SIGKILL)  # nobody follows it now; the worker carries on
    run.communicate()
    _temporal(env, "terminate", "--workflow-id", run_id, "--reason", "stuck")
    without = {k: v for k, v in env.items() if k != "CONNECTOR_TEMPORAL"}

    shown = connector("runs", "show", run_id, env=without)
    assert shown.returncode == 0, shown.stderr
    assert f"run {run_id}: running" in shown.stdout
    assert f"run {run_id} is running on Temporal (workflow id {run_id})" in shown.stderr
    assert "unknown here" in shown.stderr and "--temporal HOST:PORT" in shown.stderr
    refused = connector("runs", "retry", run_id, env=without)
    assert refused.returncode == 2 and "unknown here" in refused.stderr, refused.stderr
    assert _row(env, run_id)[0] == "running"

    cancelled = connector("runs", "cancel", run_id, env=env)
    assert cancelled.returncode == 1, cancelled.stdout + cancelled.stderr
    assert "TERMINATED, reason: 'stuck'" in cancelled.stderr
    assert f"run {run_id} is not running (failed)" in cancelled.stderr
    status, error, _ = _row(env, run_id)
    assert status == "failed" and error is not None and error["reason"] == "stuck"
    _retried_to_one_link_each(box, env, run_id, prefix)


def test_a_cancel_through_temporal_is_recorded_by_the_retry(
    setup: tuple[ShortenBox, dict[str, str], Path],
) -> None:
    box, env, folder = setup
    prefix = "https://example.com/term-cancel/"
    run, run_id = _start(box, env, folder, prefix)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    _temporal(env, "cancel", "--workflow-id", run_id)
    # The execution closes once the workflow has seen the cancel: the retry waits for it.
    deadline = time.monotonic() + 60
    while True:
        shown = connector("runs", "show", run_id, "--json", env=env)
        assert shown.returncode == 0, shown.stderr
        if json.loads(shown.stdout)["status"] != "running":
            break
        assert time.monotonic() < deadline, shown.stderr
    status, error, _ = _row(env, run_id)
    assert status == "cancelled", (status, error)
    assert error is not None and error["temporal_status"] == "CANCELED", error
    assert "cancelled through Temporal" in error["message"]
    _retried_to_one_link_each(box, env, run_id, prefix)


_START_WITH_TIMEOUT = """
import asyncio, json, os, sys
from datetime import timedelta
from pathlib import Path
from connector.catalog import load_catalog
from connector.engine.runlog import new_run_id
from connector.engine.workflow import load_workflow
from connector.temporal.client import connect
from connector.temporal.messages import RunRequest, Tuning
from connector.engine.runlog import RunLog
from connector.temporal.run_start import held_by_temporal, record_run
from connector.temporal.workflow_def import ConnectorRun

async def main():
    workflow = load_workflow(Path(sys.argv[1]), load_catalog())
    run_id = new_run_id()
    record_run(os.environ["CONNECTOR_RUNLOG"], run_id, workflow, json.loads(sys.argv[2]))
    client = await connect(os.environ["CONNECTOR_TEMPORAL"])
    tuning = Tuning(items_per_activity=10, activities_in_flight=2)
    await client.start_workflow(ConnectorRun.run, RunRequest(run_id, tuning=tuning), id=run_id,
                                task_queue=sys.argv[3], execution_timeout=timedelta(seconds=4))
    with RunLog(os.environ["CONNECTOR_RUNLOG"]) as log:  # accepted: Temporal's, as send_run does
        held_by_temporal(log, run_id)
    print(run_id, flush=True)

asyncio.run(main())
os._exit(0)
"""


def test_a_workflow_execution_timeout_is_recorded_by_runs_list(
    setup: tuple[ShortenBox, dict[str, str], Path],
) -> None:
    """A platform that starts runs with a workflow execution timeout (the Temporal SDK's
    `execution_timeout`): the run outlives it; `runs list` finds it closed."""
    box, env, folder = setup
    prefix = "https://example.com/term-timeout/"
    box.set_faults(latency_ms=SLOW_MS)
    workflow = create_workflow(folder / "timeout.yaml", batch=2)
    trigger = json.dumps({"urls": urls(prefix, ITEMS)})
    started = subprocess.run(
        [sys.executable, "-c", _START_WITH_TIMEOUT, str(workflow), trigger, QUEUE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    deadline = time.monotonic() + 60
    while True:
        listed = connector("runs", "list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        (mine,) = [r for r in json.loads(listed.stdout) if r["id"] == run_id]
        if mine["status"] != "running":
            break
        assert time.monotonic() < deadline, listed.stderr
    status, error, _ = _row(env, run_id)
    assert status == "failed" and error is not None, (status, error)
    assert error["temporal_status"] == "TIMED_OUT", error
    assert "timed out" in error["message"] and "0:00:04" in error["message"], error
    _retried_to_one_link_each(box, env, run_id, prefix)


def test_a_run_no_worker_began_is_temporals_once_accepted(
    setup: tuple[ShortenBox, dict[str, str], Path],
) -> None:
    """Sent to a task queue no worker polls: once the server accepted it the row names no
    process, so the sender's death leaves it running on Temporal (not `interrupted`,
    which a retry would run beside its execution); terminated, `runs cancel` records it."""
    _, env, folder = setup
    prefix = "https://example.com/term-idle/"
    workflow = create_workflow(folder / "idle.yaml")
    run = popen("run", str(workflow), "--trigger", json.dumps({"urls": urls(prefix, 3)}),
                "--task-queue", "term-no-worker", env=env)  # fmt: skip
    run_id = _run_id(env, prefix, run, items=0)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    assert _row(env, run_id)[0] == "running"
    listed = connector("runs", "list", "--json", env={**env, "CONNECTOR_TEMPORAL": ""})
    assert [r["status"] for r in json.loads(listed.stdout) if r["id"] == run_id] == ["running"]
    assert f"run {run_id} is running on Temporal" in listed.stderr
    _temporal(env, "terminate", "--workflow-id", run_id, "--reason", "no worker came")
    cancelled = connector("runs", "cancel", run_id, env=env)
    assert cancelled.returncode == 1, cancelled.stdout + cancelled.stderr
    status, error, failed_step = _row(env, run_id)
    assert (status, failed_step) == ("failed", None) and error is not None
    assert error["reason"] == "no worker came"
