"""The Temporal workflow of one run: it only decides which activity runs next.

Deterministic by construction: no clock, no I/O, no engine import; every effect (the run
log, the API) happens in an activity (`activities.py`). A loop's items are handed out in
ranges of `items_per_activity`, `activities_in_flight` at a time, to whichever workers poll
the task queue; after `activities_per_execution` ranges (or when Temporal suggests it) the
execution continues as new with its cursor, so a loop of any length keeps each history small.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from connector.temporal.messages import (
        ItemsCall,
        ItemsDone,
        LoopCursor,
        LoopStart,
        Progress,
        RunEnd,
        RunPlan,
        RunRequest,
        StepCall,
        StepDone,
        Tuning,
    )

__all__ = ["WORKFLOW_NAME", "ConnectorRun"]

WORKFLOW_NAME = "ConnectorRun"
T = TypeVar("T")

#: Temporal retries an activity only when its worker was lost (a missed heartbeat) or the
#: run log was briefly unreachable: every error of ours is raised non-retryable, and a
#: re-executed activity resumes from the run log, so it never adds an item's attempt.
_ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,
)


def _options(tuning: Tuning) -> dict[str, Any]:
    return {
        # A call may wait out a long Retry-After; the heartbeat, not this, detects a lost worker.
        "start_to_close_timeout": timedelta(days=1),
        "heartbeat_timeout": timedelta(seconds=tuning.heartbeat_timeout),
        "retry_policy": _ACTIVITY_RETRY,
    }


@workflow.defn(name=WORKFLOW_NAME)
class ConnectorRun:
    @workflow.run
    async def run(self, request: RunRequest) -> RunEnd:
        progress = request.progress
        if progress is None:
            plan = await self._call("begin_run", request, RunPlan, request.tuning)
            progress = Progress(steps=plan.steps, chain_intact=plan.reusing)
        while progress.position < len(progress.steps):
            step_id, kind = progress.steps[progress.position]
            call = StepCall(
                request.run_id,
                progress.position,
                progress.chain_intact,
                request.parent_run_id,
                request.resolve,
                request.max_wait,
            )
            if kind == "loop":
                if progress.loop is None:
                    start = await self._call("start_loop", call, LoopStart, request.tuning)
                    if start.status == "failed":
                        return await self._end(request, progress, step_id, start.error)
                    if start.status == "reused":
                        progress.position += 1
                        continue
                    progress.chain_intact = False
                    progress.loop = LoopCursor(start.total, stop_on_error=start.stop_on_error)
                if not await self._items(request, progress, call):
                    nxt = replace(progress, executions=progress.executions + 1)
                    # The workflow and trigger are in the run log now: not carried again.
                    later = replace(request, workflow=None, trigger=None, progress=nxt)
                    workflow.continue_as_new(later)
                done = await self._call("finish_loop", call, StepDone, request.tuning)
                progress.loop = None
            else:
                done = await self._call("run_step", call, StepDone, request.tuning)
            if done.status == "failed":
                return await self._end(request, progress, step_id, done.error)
            progress.chain_intact = done.chain_intact
            progress.position += 1
        return await self._end(request, progress, None, None)

    async def _items(self, request: RunRequest, progress: Progress, call: StepCall) -> bool:
        """Run the loop's remaining ranges; False when this execution should continue as
        new first (its history is long enough)."""
        cursor = progress.loop
        assert cursor is not None
        tuning = request.tuning
        pending: set[asyncio.Future[ItemsDone]] = set()
        scheduled = 0

        def may_schedule() -> bool:
            return (
                cursor.next < cursor.total
                and not cursor.stopped
                and scheduled < tuning.activities_per_execution
                and not workflow.info().is_continue_as_new_suggested()
            )

        while True:
            while len(pending) < tuning.activities_in_flight and may_schedule():
                start, stop = (
                    cursor.next,
                    min(cursor.total, cursor.next + tuning.items_per_activity),
                )
                cursor.next = stop
                handle = workflow.start_activity(
                    "run_items", ItemsCall(call, start, stop), result_type=ItemsDone,
                    **_options(tuning),
                )  # fmt: skip
                pending.add(handle)
                scheduled += 1
            if not pending:
                break
            finished, waiting = await workflow.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending = set(waiting)
            for task in finished:
                done = task.result()
                if done.cancelled or (done.failed and cursor.stop_on_error):
                    cursor.stopped = True
        return cursor.stopped or cursor.next >= cursor.total

    async def _end(
        self,
        request: RunRequest,
        progress: Progress,
        failed_step: str | None,
        error: dict[str, Any] | None,
    ) -> RunEnd:
        status = "failed" if failed_step is not None else "succeeded"
        end = RunEnd(request.run_id, status, failed_step, error, progress.executions)
        return await self._call("finish_run", end, RunEnd, request.tuning)

    @staticmethod
    async def _call(name: str, arg: Any, result_type: type[T], tuning: Tuning) -> T:
        return await workflow.execute_activity(
            name, arg, result_type=result_type, **_options(tuning)
        )
