"""A cancel any process may ask for: a request recorded on the run's row in the run log.

The process running the run (the embedded engine, or the Temporal workers running its
activities) reads it between items and between steps, at most every `POLL_EVERY` seconds
per run, so a loop pays one indexed read per poll, never one per item. What is in flight
finishes and is recorded (no write is left without its outcome); nothing new starts; the
run ends `cancelled`, retryable like a failed run. The CLI (`connector runs cancel`), the
service and the Python API write the request through `request_cancel`: one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.engine.run_records import process_gone
from connector.engine.runlog_errors import translated
from connector.errors import ConnectorError, InvalidInput

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog
    from connector.engine.runlog_store import Store

__all__ = [
    "CANCELLED_ERROR",
    "POLL_EVERY",
    "CancelRequest",
    "RunNotRunning",
    "cancel_requested",
    "request_cancel",
]

#: the longest a run goes without reading its cancel request while it runs items, seconds
POLL_EVERY = 0.25

#: the error a cancelled run (and its step) records
CANCELLED_ERROR: dict[str, Any] = {
    "kind": "cancelled",
    "type": "Cancelled",
    "message": "cancelled on request",
}


class RunNotRunning(ConnectorError):
    """The run ended already (or its process is gone): there is nothing to cancel."""

    kind = "not_running"

    def __init__(self, message: str, *, status: str, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.status = status


@dataclass(frozen=True)
class CancelRequest:
    run_id: str
    #: when the cancel was first asked for (a second request keeps the first time)
    requested_at: float


class _Rows:
    """The `runs` row's cancel column (translated errors need a `store`)."""

    def __init__(self, log: RunLog) -> None:
        self.store: Store = log.store

    @translated("reading a run's status")
    def status(self, run_id: str) -> tuple[str, float | None] | None:
        """The run's status (`interrupted` when its process is gone) and cancel request."""
        row = self.store.execute(
            "SELECT status, cancel_requested_at, pid, host FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        if row is None:
            return None
        status = str(row[0])
        if status == "running" and process_gone(row[2], row[3]):
            status = "interrupted"
        return status, row[1]

    @translated("recording a cancel request")
    def request(self, run_id: str, at: float) -> None:
        self.store.execute(
            "UPDATE runs SET cancel_requested_at=coalesce(cancel_requested_at, ?)"
            " WHERE id=? AND status='running'",
            (at, run_id),
        )

    @translated("reading a cancel request")
    def requested(self, run_id: str) -> bool:
        row = self.store.execute(
            "SELECT cancel_requested_at FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        return row is not None and row[0] is not None


def request_cancel(log: RunLog, run_id: str, *, at: float) -> CancelRequest:
    """Record that run `run_id` is to stop. InvalidInput (exit 2) for an unknown run;
    RunNotRunning (exit 1, naming its status) for one that ended or whose process is gone."""
    if not run_id.strip():
        raise InvalidInput("a run id is required", where="RUN")
    rows = _Rows(log)
    found = rows.status(run_id)
    if found is None:
        raise InvalidInput(f"no run with id {run_id!r}", where=log.where)
    if found[0] == "running":
        rows.request(run_id, at)
        found = rows.status(run_id) or found  # it may have ended meanwhile
    status, requested_at = found
    if status != "running" or requested_at is None:
        raise RunNotRunning(
            f"run {run_id} is not running ({status}); there is nothing to cancel",
            status=status,
        )
    return CancelRequest(run_id, float(requested_at))


def cancel_requested(log: RunLog, run_id: str) -> bool:
    """Whether a cancel of run `run_id` was asked for."""
    return _Rows(log).requested(run_id)
