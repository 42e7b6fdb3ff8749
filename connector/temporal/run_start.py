"""Where a run on Temporal begins: its row in the shared run log, written by whoever sends it.

The workflow snapshot and the trigger (a loop's million items may be tens of megabytes)
never travel through Temporal: Temporal refuses a payload over 2 MB, and every payload is
kept in the execution's history and in the worker's workflow cache. The sender writes
them into the run's row, the workflow's input names only the run, and every activity
reads them back from the run log (`activities.py`).

Once the server has accepted it, a run is Temporal's, not a process's: its row names no
process (the sender clears it then, and a worker's first activity again), so the loss of
one worker (or the Ctrl-C of the command that sent it) does not show it as interrupted
while the workers carry on or are yet to begin it, and is not retried beside its own
execution. Until then the row names the sender: a sender killed before Temporal accepted
the run leaves it interrupted, and retryable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.engine.attempts import error_dict
from connector.engine.runlog import RunLog
from connector.errors import ConnectorError, ExecutorUnavailable
from connector.temporal.client import run_and_wait
from connector.temporal.closed import ClosedByTemporal, record_closed
from connector.temporal.messages import RunEnd

if TYPE_CHECKING:
    from temporalio.client import Client

    from connector.temporal.messages import RunRequest

__all__ = ["held_by_temporal", "record_run", "send_run"]


def record_run(runlog: Path | str, run_id: str, workflow: Any, trigger: Any) -> None:
    """Write run `run_id` of a validated `workflow` with its `trigger` before it is sent.
    Until Temporal accepts it the row names this process, so a sender killed before then
    leaves it interrupted (retryable), not running forever."""
    with RunLog(runlog) as log:
        log.create_run(
            workflow=workflow.document,
            trigger=trigger,
            source_path=workflow.source,
            parent_run_id=None,
            started_at=time.time(),
            run_id=run_id,
        )


def ended_without_finishing(runlog: Path | str, run_id: str, why: ConnectorError) -> None:
    """Run `run_id` is over without a worker finishing it (Temporal never accepted it, or
    an activity failed the workflow, e.g. a worker on another run log): if its row still
    says `running`, it failed, saying why."""
    with RunLog(runlog) as log:
        row = log.store.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is not None and row[0] == "running":
            log.finish_run(run_id, status="failed", finished_at=time.time(), error=error_dict(why))


def held_by_temporal(log: RunLog, run_id: str) -> None:
    """Run `run_id` is accepted (or begun) on Temporal: no longer held by the process that
    wrote it."""
    log.store.execute(
        "UPDATE runs SET pid=NULL, host=NULL WHERE id=? AND status='running'", (run_id,)
    )


async def send_run(
    client: Client,
    runlog: Path | str,
    request: RunRequest,
    task_queue: str,
    *,
    new_run: tuple[Any, Any] | None = None,
    on_started: Callable[[], None] | None = None,
) -> RunEnd:
    """Send `request` to Temporal and wait for the run's end. For a new run, `new_run` is
    its validated workflow and its trigger, recorded first; a run recorded but never
    accepted by the server, or whose workflow an activity failed, is left failed, saying
    why; the error is raised. A run whose execution Temporal closed on its own (terminated,
    timed out, cancelled through Temporal) is recorded so (closed.py) and returned as the
    run log now holds it. A server lost while the run goes on leaves it running."""
    started = False

    def sent() -> None:
        nonlocal started
        started = True
        if new_run is not None:  # a retry's row is made by its first activity
            with RunLog(runlog) as log:
                held_by_temporal(log, request.run_id)
        if on_started is not None:
            on_started()

    if new_run is not None:
        record_run(runlog, request.run_id, *new_run)
    try:
        return await run_and_wait(client, request, task_queue, sent)
    except ClosedByTemporal as exc:
        record_closed(runlog, request.run_id, exc.execution)
        return RunEnd(request.run_id, exc.execution.run_status, None, exc.to_dict())
    except ExecutorUnavailable as exc:
        if not started:
            ended_without_finishing(runlog, request.run_id, exc)
        raise
    except ConnectorError as exc:  # the workflow failed on purpose: it is over
        ended_without_finishing(runlog, request.run_id, exc)
        raise
