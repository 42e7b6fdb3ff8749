"""A worker process: one engine (rate budgets, HTTP clients, run log) serving the activities
and workflows of every run sent to its task queue, until it is told to stop.

Every activity is a coroutine run on the worker's one event loop, through that one engine:
so the app's concurrency cap (the budget's semaphore and the HTTP pool, 5 connections to
Bitly) holds for the whole process (a machine, one address) across all the activities it
runs at once, and its rate windows are the budget shared with every other worker through
PostgreSQL. An activity run in a thread would get budgets of its own (they are per event
loop): `serve` refuses one.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from connector.temporal.client import connect
from connector.temporal.messages import TASK_QUEUE

__all__ = ["DEFAULT_ACTIVITIES", "serve"]

#: activities one worker runs at once: each keeps up to its loop's batch_size items in
#: flight, all under the process's shared rate budget (5 connections to Bitly per machine)
DEFAULT_ACTIVITIES = 4


async def serve(
    *,
    address: str,
    catalog: Any,
    runlog: Path | str,
    namespace: str = "default",
    task_queue: str = TASK_QUEUE,
    max_activities: int = DEFAULT_ACTIVITIES,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> None:
    """Serve runs until `stop` is set (or forever); `on_ready(run log)` once polling.
    `overrides` replace apps' rate limits outright (tests and benchmarks on a sandbox)."""
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from connector.engine.session import engine_session
    from connector.temporal.activities import RunActivities
    from connector.temporal.workflow_def import ConnectorRun

    client = await connect(address, namespace)
    async with engine_session(
        catalog, runlog, base_urls=base_urls, credentials=credentials, overrides=overrides
    ) as engine:
        activities = RunActivities(engine)
        threaded = [a for a in activities.all() if not inspect.iscoroutinefunction(a)]
        if threaded:  # a bug of ours, not a user's: it would escape the process's budget
            raise TypeError(f"activities must be coroutines, not {threaded}")
        # The workflow imports only its messages from the connector; passing the package
        # through spares the sandbox from re-importing it (and its dependencies) per run.
        runner = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("connector")
        )
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[ConnectorRun],
            activities=activities.all(),
            max_concurrent_activities=max_activities,
            workflow_runner=runner,
        )
        async with worker:
            if on_ready is not None:
                on_ready(engine.runlog.where)
            await (stop or asyncio.Event()).wait()
