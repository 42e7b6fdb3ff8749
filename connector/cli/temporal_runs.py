"""Runs held by Temporal that nobody follows, checked when someone looks at or acts on them.

A run sent with `--temporal` stays `running` in the run log until an activity writes its
end. When Temporal closes the execution itself (an operator's terminate, a workflow
execution timeout, a cancel through Temporal), no activity does, and only Temporal knows.
`runs cancel`, `runs retry`, `runs show` and `runs list` ask it, one describe per such run,
when a Temporal address is configured (`--temporal` or `$CONNECTOR_TEMPORAL`), and record a
closed execution (temporal/closed.py). Without an address they say it is unknown instead
of guessing. A run's workflow id is its run id; its row names no process once the server
has accepted it (temporal/run_start.py), which is how such a run is told apart.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from connector.cli.temporal_cmd import ENV, temporal_address
from connector.errors import InvalidConfiguration

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog
    from connector.temporal.closed import Execution

__all__ = [
    "address_options",
    "check_runs",
    "checked_parent",
    "checked_with_temporal",
    "held_by_temporal",
    "unknown_note",
]


def address_options(parser: argparse.ArgumentParser) -> None:
    """`--temporal` and `--namespace` for commands that only ask Temporal about runs."""
    parser.add_argument(
        "--temporal",
        metavar="HOST:PORT",
        help=f"the Temporal server to ask about runs held by it (default ${ENV})",
    )
    parser.add_argument("--namespace", default="default", help="Temporal namespace")


def held_by_temporal(log: RunLog, run_ids: Iterable[str]) -> list[str]:
    """Those of `run_ids` that are `running` on Temporal (their rows name no process)."""
    from connector.temporal.closed import on_temporal

    held = []
    for run_id in dict.fromkeys(run_ids):
        row = log.store.execute(
            "SELECT status, pid, host FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        if row is not None and on_temporal(row[0], row[1], row[2]):
            held.append(run_id)
    return held


def unknown_note(run_id: str) -> str:
    return (
        f"note: run {run_id} is running on Temporal (workflow id {run_id}); whether Temporal "
        f"has closed its execution is unknown here: name a Temporal server that answers "
        f"(--temporal HOST:PORT or ${ENV}) to check"
    )


def check_runs(
    args: argparse.Namespace, target: Path | str, held: list[str], *, strict: bool = True
) -> dict[str, Execution] | None:
    """Ask Temporal about the `held` runs (running on it) and record those whose execution
    it closed, saying so on stderr; their executions by run id. None when no Temporal
    address is configured (nothing is known). A server that cannot be reached
    (ExecutorUnavailable), or that holds no execution for a run (another server or
    namespace?: InvalidConfiguration), is an error when `strict`, else a note on stderr,
    that run (or all) then unknown."""
    import asyncio

    from connector.cli import temporal_cmd
    from connector.errors import ExecutorUnavailable
    from connector.temporal.client import connect
    from connector.temporal.closed import execution_of, record_closed

    address = temporal_address(args)
    if not address:
        return None
    if not held:
        return {}
    namespace = getattr(args, "namespace", "default")
    temporal_cmd._used = True  # a Temporal client: the command ends as `leave` says

    async def ask() -> list[Execution]:
        client = await connect(address, namespace)
        return list(await asyncio.gather(*(execution_of(client, run_id) for run_id in held)))

    try:
        executions = dict(zip(held, asyncio.run(ask()), strict=True))
    except ExecutorUnavailable as exc:
        if strict:
            raise
        print(f"note: {exc.message}", file=sys.stderr)
        return None
    for run_id, execution in list(executions.items()):
        if execution.status == "NOT_FOUND":
            missing = InvalidConfiguration(
                f"run {run_id} is running on Temporal, but the server at {address} (namespace "
                f"{namespace}) holds no workflow execution {run_id}: name the server and "
                "namespace it was sent to (its retention may also have passed)",
                where="--temporal",
            )
            if strict:
                raise missing
            print(f"note: {missing.message}", file=sys.stderr)
            del executions[run_id]
        elif execution.closed and record_closed(target, run_id, execution):
            print(
                f"run {run_id}: {execution.error(run_id)}; recorded as {execution.run_status}",
                file=sys.stderr,
            )
    return executions


def checked_with_temporal(
    args: argparse.Namespace, log: RunLog, target: Path | str, run_ids: list[str]
) -> bool:
    """`runs show`/`list`: check those of `run_ids` held by Temporal with it; True when one
    was found closed and recorded. Without a Temporal address, say what is unknown."""
    held = held_by_temporal(log, run_ids)
    executions = check_runs(args, target, held, strict=False)
    if executions is None:
        for run_id in held:
            print(unknown_note(run_id), file=sys.stderr)
        return False
    return any(execution.closed for execution in executions.values())


def checked_parent(args: argparse.Namespace, target: Path | str) -> None:
    """`runs retry` of a run held by Temporal: its execution, checked with Temporal, must
    be closed (and is recorded so); without a Temporal address that is unknown: refused."""
    from connector.engine.runlog import RunLog

    if isinstance(target, Path) and not target.exists():
        return  # the retry itself says there is no such run
    with RunLog(target, readonly=True) as log:
        held = held_by_temporal(log, [args.run_id])
    if not held:
        return
    executions = check_runs(args, target, held)
    if executions is None:
        raise InvalidConfiguration(unknown_note(args.run_id).removeprefix("note: "))
    execution = executions[args.run_id]
    if not execution.closed:
        raise InvalidConfiguration(
            f"run {args.run_id} is still running on Temporal (its workflow execution is "
            f"{execution.status}); retry it once it has ended, or stop it with "
            f"`connector runs cancel {args.run_id}`"
        )
