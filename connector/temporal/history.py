"""How big a run's workflow histories grew: each execution of the run's workflow id (one per
continue-as-new), with its event count, its size and its largest event, read back through
the Temporal client's history API. Temporal fails an execution past 51,200 events or 50 MB
of history and refuses a payload over 2 MB; the tests and `bench/temporal_million.py`
check a run against those limits with these figures.

    python -m connector.temporal.history --temporal HOST:PORT RUN_ID   (one JSON line each)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["ExecutionSize", "execution_sizes"]


@dataclass
class ExecutionSize:
    run_id: str
    #: RUNNING, COMPLETED, CONTINUED_AS_NEW, FAILED, ...
    status: str
    events: int
    #: the history's events, serialized, in bytes
    bytes: int
    #: the largest single event in bytes (a payload's ceiling is 2 MB)
    largest_event: int


async def execution_sizes(client: Client, workflow_id: str) -> list[ExecutionSize]:
    """Every execution Temporal holds for `workflow_id`, oldest first."""
    listed = [e async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    listed.sort(key=lambda e: e.start_time)
    sizes = []
    for execution in listed:
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        history = await handle.fetch_history()
        each = [event.ByteSize() for event in history.events]
        status = execution.status.name if execution.status is not None else "UNKNOWN"
        sizes.append(
            ExecutionSize(execution.run_id, status, len(each), sum(each), max(each, default=0))
        )
    return sizes


def main(argv: list[str] | None = None) -> int:
    from connector.temporal.client import connect

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temporal", required=True, metavar="HOST:PORT")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("run_id", help="the run's id (its workflow id)")
    args = parser.parse_args(argv)

    async def go() -> list[ExecutionSize]:
        return await execution_sizes(await connect(args.temporal, args.namespace), args.run_id)

    for size in asyncio.run(go()):
        print(json.dumps(asdict(size)))
    sys.stdout.flush()
    os._exit(0)  # temporalio's native threads can crash the interpreter's teardown


if __name__ == "__main__":
    sys.exit(main())
