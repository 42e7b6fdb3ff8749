"""Runs whose workflow execution Temporal itself closed: terminated (an operator, from the
Temporal UI or CLI), timed out (a workflow execution timeout) or cancelled through Temporal.

No activity runs after such a close, so nothing of ours writes the run's end: whoever learns
of it records it. The follower (`connector run --temporal`, `runs retry --temporal`) learns
it from the execution's result (`closed_from_failure`); anyone else (`runs cancel`, `runs
retry`, `runs show`, `runs list` with a Temporal address) asks Temporal about a run still
`running` on it (`execution_of`). Either way `record_closed` ends the run in the run log:
`cancelled` for a cancel through Temporal (someone asked it to stop, as `runs cancel` does),
`failed` otherwise, with an error naming Temporal's status (and a terminate's reason).

What a worker crash leaves, this leaves too: items recorded stay, an item cut off in flight
has its write intent open, and the retry reads it back before anything is resent. The run's
cancel request is set as well, so a range activity still running on a worker (it learns of
the close only at its next heartbeat) starts no further item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError, ExecutorUnavailable
from connector.redact import dumps_redacted, redact

if TYPE_CHECKING:
    from temporalio.client import Client

    from connector.engine.runlog import RunLog

__all__ = [
    "ClosedByTemporal",
    "Execution",
    "closed_from_failure",
    "execution_of",
    "on_temporal",
    "record_closed",
]

#: Temporal's statuses of an execution that ended without our workflow finishing the run
CLOSED = ("TERMINATED", "TIMED_OUT", "CANCELED", "FAILED")
#: what each did to the run, in words
_DID = {
    "TERMINATED": "Temporal terminated the run's workflow execution",
    "TIMED_OUT": "the run's workflow execution timed out on Temporal",
    "CANCELED": "the run's workflow execution was cancelled through Temporal",
    "FAILED": "the run's workflow execution failed on Temporal",
}


@dataclass(frozen=True)
class Execution:
    """A run's workflow execution as Temporal describes it (the newest of its chain)."""

    #: RUNNING, COMPLETED, TERMINATED, TIMED_OUT, CANCELED, FAILED, ...; NOT_FOUND
    status: str
    #: a terminate's reason, a failure's message, a timeout's length
    reason: str | None = None

    @property
    def closed(self) -> bool:
        """Closed without the run finished (a completed execution has finished it)."""
        return self.status in CLOSED

    @property
    def run_status(self) -> str:
        return "cancelled" if self.status == "CANCELED" else "failed"

    def error(self, run_id: str) -> ClosedByTemporal:
        why = f": {self.reason}" if self.reason else ""
        if self.status == "TERMINATED":
            why = f", reason: {self.reason!r}" if self.reason else ", no reason given"
        return ClosedByTemporal(
            f"{_DID.get(self.status, 'Temporal closed the run')} ({self.status}{why}); "
            f"items recorded before stay; `connector runs retry {run_id}` runs the rest",
            execution=self,
        )


class ClosedByTemporal(ConnectorError):
    """Temporal closed the run's workflow execution before the run finished."""

    exit_code = 1
    kind = "closed_by_temporal"

    def __init__(self, message: str, *, execution: Execution) -> None:
        super().__init__(message)
        self.execution = execution

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "temporal_status": self.execution.status,
                "reason": self.execution.reason}  # fmt: skip


def closed_from_failure(exc: BaseException) -> Execution | None:
    """How Temporal closed an execution, from the error its result raised
    (`WorkflowFailureError`); None when an activity of ours failed the workflow."""
    from temporalio.exceptions import CancelledError, TerminatedError, TimeoutError

    cause = exc.__cause__ or getattr(exc, "cause", None)
    if isinstance(cause, TerminatedError):
        reason = str(cause.message)
        return Execution("TERMINATED", None if reason == "Workflow terminated" else reason)
    if isinstance(cause, TimeoutError):
        return Execution("TIMED_OUT", "its workflow execution timeout passed")
    if isinstance(cause, CancelledError):
        return Execution("CANCELED")
    return None


async def execution_of(client: Client, workflow_id: str) -> Execution:
    """The state of run `workflow_id`'s workflow execution (the run's id is its workflow
    id): NOT_FOUND when Temporal holds none under that id (another server or namespace,
    or its retention passed). ExecutorUnavailable when the server cannot say."""
    from temporalio.client import WorkflowHistoryEventFilterType
    from temporalio.service import RPCError, RPCStatusCode

    try:
        described = await client.get_workflow_handle(workflow_id).describe()
        status = described.status.name if described.status is not None else "UNKNOWN"
        reason = None
        if status == "TIMED_OUT":
            limit = described.raw_description.execution_config.workflow_execution_timeout
            if limit.seconds or limit.nanos:
                reason = f"its workflow execution timeout of {limit.ToTimedelta()} passed"
        elif status in ("TERMINATED", "FAILED"):
            handle = client.get_workflow_handle(workflow_id, run_id=described.run_id)
            async for event in handle.fetch_history_events(
                event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
            ):
                if event.HasField("workflow_execution_terminated_event_attributes"):
                    reason = event.workflow_execution_terminated_event_attributes.reason
                elif event.HasField("workflow_execution_failed_event_attributes"):
                    reason = event.workflow_execution_failed_event_attributes.failure.message
        return Execution(status, redact(reason)[:500] if reason else None)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return Execution("NOT_FOUND")
        raise ExecutorUnavailable(
            f"the Temporal server could not describe run {workflow_id}'s workflow execution: "
            f"{exc.message}",
            where="--temporal",
        ) from None


def on_temporal(status: str, pid: int | None, host: str | None) -> bool:
    """Whether a run row is held by Temporal: `running`, and named no process since a
    worker began it (run_start.held_by_temporal)."""
    return status == "running" and pid is None and host is None


def record_closed(runlog: Path | str | RunLog, run_id: str, execution: Execution) -> bool:
    """End run `run_id`, still `running`, as `execution` (closed by Temporal) left it: the run
    and its running step take the execution's status and error; False when the run had
    ended already (someone recorded it first)."""
    from connector.engine.runlog import RunLog

    if isinstance(runlog, RunLog):
        return _record(runlog, run_id, execution)
    with RunLog(runlog) as log:
        return _record(log, run_id, execution)


def _record(log: RunLog, run_id: str, execution: Execution) -> bool:
    error = dumps_redacted(execution.error(run_id).to_dict())
    status, now = execution.run_status, time.time()
    store = log.store
    with store.transaction(exclusive=True):
        row = store.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None or row[0] != "running":
            return False
        running = store.execute(
            "SELECT step_id FROM steps WHERE run_id=? AND status='running' ORDER BY position",
            (run_id,),
        ).fetchall()
        store.execute(
            "UPDATE steps SET status=?, finished_at=?, error_json=?"
            " WHERE run_id=? AND status='running'",
            (status, now, error, run_id),
        )
        # The cancel request stops a range activity that has not yet heard of the close.
        store.execute(
            "UPDATE runs SET status=?, finished_at=?, error_json=?, failed_step=?,"
            " cancel_requested_at=coalesce(cancel_requested_at, ?) WHERE id=?",
            (status, now, error, running[0][0] if running else None, now, run_id),
        )
    return True
