"""The client side: connect to Temporal, send a run, wait for it, and say why it failed.

An unreachable server is an `ExecutorUnavailable` (exit 2, one line). A run whose execution
Temporal closed on its own (terminated, timed out, cancelled through Temporal) is a
`ClosedByTemporal` naming how (closed.py: the sender records it in the run log). An error
an activity raised on purpose came
from the engine on the worker (`activities._translated`) and is raised here as the same
kind of error, with the same exit code, as an embedded run would raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector import errors
from connector.errors import AlreadyRetried, ConnectorError, ExecutorUnavailable
from connector.temporal.messages import RunEnd, RunRequest

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["connect", "run_and_wait"]

#: the error classes an activity's error is shown as, by the exit code they carry
_SHOWN_AS: tuple[type[ConnectorError], ...] = (
    errors.InvalidConfiguration,
    errors.InvalidInput,
    errors.RunLogError,
)


async def connect(address: str, namespace: str = "default") -> Client:
    """A client of the Temporal server at HOST:PORT, or ExecutorUnavailable."""
    from temporalio.client import Client

    try:
        return await Client.connect(address, namespace=namespace)
    except Exception as exc:  # the SDK raises RuntimeError (and ValueError for a bad target)
        raise ExecutorUnavailable(
            f"cannot reach the Temporal server at {address} ({_reason(exc)}); start one "
            "(temporal server start-dev) or name another with --temporal HOST:PORT",
            where="--temporal",
        ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    found = re.search(r'message: "([^"]+)"', text) or re.search(r"\(([^()]+)\)\)*$", text)
    reason = found.group(1) if found else text
    return " ".join(reason.split())[:200] or type(exc).__name__


async def run_and_wait(
    client: Client,
    request: RunRequest,
    task_queue: str,
    on_started: Callable[[], None] | None = None,
) -> RunEnd:
    """Start the run's workflow (its id is the run's id), tell `on_started`, and wait for
    its end."""
    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError

    from connector.temporal.workflow_def import ConnectorRun

    try:
        handle = await client.start_workflow(
            ConnectorRun.run, request, id=request.run_id, task_queue=task_queue
        )
        if on_started is not None:
            on_started()
        return await handle.result()
    except WorkflowFailureError as exc:
        raise _translated(exc, request.run_id) from None
    except RPCError as exc:
        raise ExecutorUnavailable(
            f"the Temporal server refused or lost run {request.run_id}: {exc.message}",
            where="--temporal",
        ) from None


def _translated(exc: BaseException, run_id: str) -> ConnectorError:
    """The engine's error that ended the workflow, as the embedded run raises it, or how
    Temporal closed the execution on its own."""
    from temporalio.exceptions import ApplicationError

    from connector.temporal.closed import closed_from_failure

    closed = closed_from_failure(exc)
    if closed is not None:
        return closed.error(run_id)
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if cause is None:
        return ExecutorUnavailable(f"Temporal ended the run: {exc.__cause__ or exc}")
    details: list[Any] = [*cause.details, None, None]
    if cause.type == "AlreadyRetried":
        return AlreadyRetried(cause.message, child_run_id=str(details[1]))
    named = getattr(errors, cause.type or "", None)
    for cls in _SHOWN_AS:
        if isinstance(named, type) and issubclass(named, cls):
            return cls(cause.message)
    if details[0] == errors.InvalidConfiguration.exit_code:  # e.g. engine.workflow's own
        return errors.InvalidConfiguration(cause.message)
    return ConnectorError(cause.message)
