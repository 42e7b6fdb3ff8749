"""The activities of a run on Temporal: each one is the engine's own code for a part of a run.

A worker holds one `Engine` (its rate budgets, pooled HTTP clients and run-log connection
shared by every activity it runs), so an activity is a call into the engine for one step
or one range of a loop's items, with the run's state read back from the shared run log:
the workflow snapshot and trigger from the run's row, earlier steps' outputs from their
rows. Nothing an item produces travels through Temporal.

Every activity may run again after its worker was lost. Each one is idempotent on the run
log: a run is created under the id the workflow chose, a step or item already recorded is
not run again, an open write intent is read back before anything is resent, and a call
cut off mid-retry continues its attempts from the run log's journal (attempt_journal.py):
Temporal's re-execution never adds an attempt the workflow's retry policy did not allow.

A cancel is asked for in the run log (run_cancel.py), by any process: each activity reads
it before it starts anything, and a range of items between its items, as the embedded
loop does; the run ends `cancelled` through the workflow's failure path.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from connector.engine.attempt_journal import RESUMING, FirstAttemptsJournal
from connector.engine.attempts import error_dict
from connector.engine.executor import Engine, StepFailed
from connector.engine.loop_items import LoopItems
from connector.engine.retry_run import check_resolutions, workflow_for_retry
from connector.engine.reuse import ReusePlan
from connector.engine.run_cancel import CANCELLED_ERROR
from connector.engine.runlog import ItemRecord, RunLog
from connector.engine.workflow import LoopStep, Workflow, validate_workflow
from connector.errors import AlreadyRetried, ConnectorError, InvalidConfiguration, InvalidInput
from connector.lazy_array import PAGE, LazyArray
from connector.redact import redact
from connector.temporal.items import finished_indexes, held_once, run_item_range
from connector.temporal.messages import (
    ItemsCall,
    ItemsDone,
    LoopStart,
    RunEnd,
    RunPlan,
    RunRequest,
    StepCall,
    StepDone,
)
from connector.temporal.run_start import held_by_temporal

__all__ = ["RunActivities"]

T = TypeVar("T")
#: runs whose state a worker keeps (their workflow, trigger and a loop's rendered items)
CACHED_RUNS = 4
#: loop items the kept runs may hold in all (about 70 MB per million short strings): a
#: worker keeps two runs of a million items, and always the one it works on, however long
CACHED_ITEMS = 2_000_000


@dataclass
class _Loop:
    """A loop under way, as one worker knows it."""

    items: Sequence[Any]
    #: the parent run's outputs of items partly done (their succeeded sub-steps)
    partial: dict[int, Any]
    #: items the parent run finished, copied into this run
    carried: int


@dataclass
class _RunState:
    workflow: Workflow
    trigger: Any
    lineage: str
    #: position -> the loop under way there
    loops: dict[int, _Loop] = field(default_factory=dict)


class RunActivities:
    """The activities, bound to one worker's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Any activity may be run again on another worker: its calls' attempts are journaled
        # (a range's first attempts a few items at a time: items.FirstAttempts).
        self._journal = engine.journal = FirstAttemptsJournal(engine.runlog)
        self._runs: OrderedDict[str, _RunState] = OrderedDict()

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.begin_run,
            self.run_step,
            self.start_loop,
            self.run_items,
            self.finish_loop,
            self.finish_run,
        ]

    # --- activities ---------------------------------------------------------------------

    @activity.defn(name="begin_run")
    async def begin_run(self, request: RunRequest) -> RunPlan:
        return await _translated(self._begin_run, request)

    @activity.defn(name="run_step")
    async def run_step(self, call: StepCall) -> StepDone:
        return await _translated(self._run_step, call)

    @activity.defn(name="start_loop")
    async def start_loop(self, call: StepCall) -> LoopStart:
        return await _translated(self._start_loop, call)

    @activity.defn(name="run_items")
    async def run_items(self, call: ItemsCall) -> ItemsDone:
        return await _translated(self._run_items, call)

    @activity.defn(name="finish_loop")
    async def finish_loop(self, call: StepCall) -> StepDone:
        return await _translated(self._finish_loop, call)

    @activity.defn(name="finish_run")
    async def finish_run(self, end: RunEnd) -> RunEnd:
        return await _translated(self._finish_run, end)

    # --- what they do -------------------------------------------------------------------

    async def _begin_run(self, request: RunRequest) -> RunPlan:
        engine, log = self.engine, self.engine.runlog
        exists = log.store.execute("SELECT 1 FROM runs WHERE id=?", (request.run_id,)).fetchone()
        if exists is None and not request.parent_run_id:
            raise InvalidConfiguration(
                f"run {request.run_id} is not in this worker's run log ({log.where}): the "
                "command that sends runs and the workers must share one run log "
                "(--runlog or CONNECTOR_RUNLOG)",
                where="--runlog",
            )
        if exists is None and request.parent_run_id:  # else made by a lost worker's try
            parent = request.parent_run_id
            workflow = workflow_for_retry(engine, parent, current=request.current)
            check_resolutions(engine, parent, request.resolve)
            trigger = log.get_run(parent).trigger
            log.create_run(
                workflow=workflow.document,
                trigger=trigger,
                source_path=workflow.source,
                parent_run_id=request.parent_run_id,
                started_at=engine.clock.wall(),
                run_id=request.run_id,
            )
        # The run lives as long as its Temporal workflow, not as long as this worker: with
        # no pid, its row never reads as `interrupted` (and stays cancellable) when the
        # worker that made it dies while others go on.
        held_by_temporal(log, request.run_id)
        state = self._state(request.run_id)
        steps = [[step.id, step.kind] for step in state.workflow.steps]
        return RunPlan(steps, reusing=request.parent_run_id is not None)

    async def _run_step(self, call: StepCall) -> StepDone:
        state = self._bound(call)
        step = state.workflow.steps[call.position]
        recorded = self._recorded_step(call.run_id, step.id)
        if recorded is not None:
            return recorded
        if self.engine.cancel_requested(call.run_id, fresh=True):
            return StepDone("failed", dict(CANCELLED_ERROR))
        reuse = self._reuse(call)
        async with _heartbeat(lambda: step.id):
            try:
                await self._engine_for(call).run_step(
                    call.run_id, call.position, step, self._context(call, state), reuse
                )
            except StepFailed as failed:
                return StepDone("failed", failed.error)
        reused = reuse is not None and reuse.chain_intact
        return StepDone("reused" if reused else "succeeded", chain_intact=reused)

    async def _start_loop(self, call: StepCall) -> LoopStart:
        engine, log = self._engine_for(call), self.engine.runlog
        state = self._bound(call)
        step = state.workflow.steps[call.position]
        assert isinstance(step, LoopStep)
        if engine.cancel_requested(call.run_id, fresh=True):
            return LoopStart("failed", error=dict(CANCELLED_ERROR))
        context = self._context(call, state)
        reuse = self._reuse(call)
        if reuse is not None and replace(reuse).reusable_step(step.id, step.definition):
            await engine.run_step(call.run_id, call.position, step, context, reuse)  # copied
            return LoopStart("reused")
        started = engine.clock.wall()
        common: dict[str, Any] = {
            "position": call.position,
            "kind": "loop",
            "definition": step.definition,
        }
        log.write_step(call.run_id, step.id, status="running", started_at=started, **common)
        try:
            loop = self._loop(call, state, step, context, copy_carried=True)
            await engine.check_month(step, len(loop.items) - loop.carried)
        except ConnectorError as exc:
            error = error_dict(exc)
            log.write_step(call.run_id, step.id, status="failed", started_at=started,
                           finished_at=engine.clock.wall(), error=error, **common)  # fmt: skip
            return LoopStart("failed", error=error)
        return LoopStart("run", len(loop.items), step.on_item_error == "stop")

    async def _run_items(self, call: ItemsCall) -> ItemsDone:
        engine = self._engine_for(call.step)
        state = self._bound(call.step)
        step = state.workflow.steps[call.step.position]
        assert isinstance(step, LoopStep)
        context = self._context(call.step, state)
        loop = self._loop(call.step, state, step, context)
        run_id = call.step.run_id
        done = finished_indexes(engine.runlog, run_id, step.id, call.start, call.stop)
        todo = [idx for idx in range(call.start, call.stop) if idx not in done]
        if engine.cancel_requested(run_id, fresh=True):
            return ItemsDone(ran=0, failed=0, skipped=len(done), cancelled=True)
        finished = [0]

        def on_item(ok: bool) -> None:
            finished[0] += 1

        async with _heartbeat(lambda: {"finished": len(done) + finished[0]}):
            failed = await run_item_range(
                engine, run_id, step, context, loop.items, todo, loop.partial, on_item
            )
        # The range's items are in their rows now, attempts included.
        self._journal.drop_range(run_id, step.id, call.start, call.stop)
        cancelled = finished[0] < len(todo) and engine.cancel_requested(run_id)
        return ItemsDone(ran=finished[0], failed=failed, skipped=len(done), cancelled=cancelled)

    async def _finish_loop(self, call: StepCall) -> StepDone:
        engine, log = self.engine, self.engine.runlog
        state = self._bound(call)
        step = state.workflow.steps[call.position]
        assert isinstance(step, LoopStep)
        recorded = self._recorded_step(call.run_id, step.id)
        if recorded is not None:
            return recorded
        items = self._loop(call, state, step, self._context(call, state)).items
        total = len(items)
        _write_missing_as_skipped(log, call.run_id, step.id, items)  # `on_item_error: stop`
        counts = log.item_counts(call.run_id, step.id)
        summary = {
            "total": total,
            "succeeded": counts.get("succeeded", 0),
            "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0),
        }
        step_error = None
        first_error = _first_error(log, call.run_id, step.id) if summary["failed"] else None
        if first_error is not None:
            step_error = {
                **first_error,
                "loop": f"{summary['failed']} of {total} items failed"
                + (f", {summary['skipped']} skipped" if summary["skipped"] else ""),
            }
        # Ranges stopped by a cancel left items unrun (now `skipped`), as the embedded loop.
        cancelled = bool(summary["skipped"]) and engine.cancel_requested(call.run_id, fresh=True)
        status = "cancelled" if cancelled else "failed" if summary["failed"] else "succeeded"
        log.write_step(
            call.run_id, step.id, position=call.position, kind="loop", status=status,
            definition=step.definition, started_at=self._step_started(call.run_id, step.id),
            finished_at=engine.clock.wall(), error=step_error, summary=summary,
            output={"items": LoopItems(log, call.run_id, step.id, total), "summary": summary},
        )  # fmt: skip
        state.loops.pop(call.position, None)
        if cancelled:  # the workflow ends the run through its failure path; see _finish_run
            return StepDone("failed", dict(CANCELLED_ERROR))
        return StepDone(status, step_error)

    async def _finish_run(self, end: RunEnd) -> RunEnd:
        engine, log = self.engine, self.engine.runlog
        state = self._state(end.run_id)
        output = None
        status, failed_step, error = end.status, end.failed_step, end.error
        if status == "failed" and (error or {}).get("kind") == CANCELLED_ERROR["kind"]:
            status = "cancelled"
        if status == "succeeded":
            call = StepCall(end.run_id, len(state.workflow.steps))
            try:
                output = engine.render_output(state.workflow, self._context(call, state))
            except StepFailed as failed:
                status, failed_step, error = "failed", failed.step_id, failed.error
        log.finish_run(
            end.run_id,
            status=status,
            finished_at=engine.clock.wall(),
            output=output,
            error=error,
            failed_step=failed_step,
        )
        self._runs.pop(end.run_id, None)
        self._journal.drop_run(end.run_id)
        engine.forget_run(end.run_id, state.workflow)
        return RunEnd(end.run_id, status, failed_step, error, end.executions)

    # --- the run's state, read back from the run log ----------------------------------------

    def _state(self, run_id: str) -> _RunState:
        state = self._runs.get(run_id)
        if state is not None:
            self._runs.move_to_end(run_id)
            return state
        log = self.engine.runlog
        run = log.get_run(run_id)
        workflow = validate_workflow(run.workflow, self.engine.catalog, source=run.source_path)
        lineage = log.lineage_of(run.parent_run_id) if run.parent_run_id else run_id
        state = _RunState(workflow, run.trigger, lineage)
        self._runs[run_id] = state
        self._evict()
        return state

    def _evict(self) -> None:
        """Forget the least recently used runs past CACHED_RUNS, or past CACHED_ITEMS loop
        items in all; the run in use is always kept."""
        while len(self._runs) > 1 and (
            len(self._runs) > CACHED_RUNS
            or sum(len(loop.items) for run in self._runs.values() for loop in run.loops.values())
            > CACHED_ITEMS
        ):
            self._runs.popitem(last=False)

    def _bound(self, call: StepCall) -> _RunState:
        """The run's state, with its writes recorded under its lineage."""
        state = self._state(call.run_id)
        self.engine.bind_run(call.run_id, state.workflow, state.lineage, call.resolve)
        return state

    def _engine_for(self, call: StepCall) -> Engine:
        """The worker's engine as this run sees it: its own `--max-wait`, everything else
        (budgets, clients, run log, bound runs) shared."""
        if call.max_wait is None or call.max_wait == self.engine.max_wait:
            return self.engine
        view = copy.copy(self.engine)
        view.max_wait = call.max_wait
        return view

    def _context(self, call: StepCall, state: _RunState) -> dict[str, Any]:
        """The template context at step `call.position`: the trigger and the outputs of
        the steps before it, as the run log holds them."""
        log = self.engine.runlog
        steps = {
            step.id: {"output": log.step_output(call.run_id, step.id)}
            for step in state.workflow.steps[: call.position]
        }
        return {"trigger": state.trigger, "steps": steps}

    def _reuse(self, call: StepCall) -> ReusePlan | None:
        if not call.parent_run_id:
            return None
        plan = ReusePlan.from_run(self.engine.runlog, call.parent_run_id)
        plan.chain_intact = call.chain_intact
        return plan

    def _loop(
        self,
        call: StepCall,
        state: _RunState,
        step: LoopStep,
        context: dict[str, Any],
        *,
        copy_carried: bool = False,
    ) -> _Loop:
        """The loop's items (`over` rendered once per worker) and what a retry carries over;
        with `copy_carried`, the parent's finished items are copied into this run, a page
        per transaction, as the embedded loop does."""
        cached = state.loops.get(call.position)
        if cached is not None and not copy_carried:
            return cached
        state.loops.clear()  # a run has one loop under way: an earlier one's items go
        from connector.catalog.templates import render

        where = f"steps.{step.id}.loop.over"
        items = render(step.over, context, where=where)
        if not isinstance(items, list | LazyArray):
            raise InvalidInput(
                f"loop.over must give an array, but gave {type(items).__name__}", where=where
            )
        state.trigger = held_once(state.trigger, items)
        partial: dict[int, Any] = {}
        carried = 0
        reuse = self._reuse(call)
        if reuse is not None:
            log = self.engine.runlog
            for page in reuse.reusable_item_pages(step.id, step.definition, items):
                done = [stored for stored in page if stored.status == "succeeded"]
                partial.update((s.index, s.output) for s in page if s.status != "succeeded")
                if done and copy_carried:
                    log.copy_items(call.run_id, step.id, done, reuse.parent_run_id)
                carried += len(done)
        loop = _Loop(items, partial, carried)
        state.loops[call.position] = loop
        self._evict()
        return loop

    def _recorded_step(self, run_id: str, step_id: str) -> StepDone | None:
        """A step an earlier execution of this activity finished (its worker was lost
        before Temporal heard)."""
        row = self.engine.runlog.store.execute(
            "SELECT status, error_json, reused_from FROM steps WHERE run_id=? AND step_id=?",
            (run_id, step_id),
        ).fetchone()
        if row is None or row[0] not in ("succeeded", "failed", "cancelled"):
            return None
        if row[0] == "cancelled":
            return StepDone("failed", dict(CANCELLED_ERROR))
        error = json.loads(row[1]) if row[1] else None
        reused = row[2] is not None
        return StepDone("reused" if reused else str(row[0]), error, chain_intact=reused)

    def _step_started(self, run_id: str, step_id: str) -> float | None:
        row = self.engine.runlog.store.execute(
            "SELECT started_at FROM steps WHERE run_id=? AND step_id=?", (run_id, step_id)
        ).fetchone()
        return None if row is None else row[0]


def _first_error(log: RunLog, run_id: str, step_id: str) -> dict[str, Any] | None:
    """The error of the loop's first failed item, by index (the embedded loop names the
    first to fail in time; with one range in flight they are the same)."""
    row = log.store.execute(
        "SELECT error_json FROM loop_items WHERE run_id=? AND step_id=? AND status='failed'"
        " ORDER BY idx LIMIT 1",
        (run_id, step_id),
    ).fetchone()
    return json.loads(row[0]) if row is not None and row[0] else None


def _write_missing_as_skipped(log: RunLog, run_id: str, step_id: str, items: Sequence[Any]) -> None:
    """Record as `skipped` the items no range ran, a page at a time (the indexes present
    are read by keyset pages, never all at once)."""
    expected, after = 0, -1
    missing: list[ItemRecord] = []

    def skip_until(stop: int) -> None:
        for idx in range(expected, stop):
            missing.append(
                ItemRecord(step_id, idx, "skipped", items[idx], None, None, None, [], None,
                           None, None)
            )  # fmt: skip
            if len(missing) >= PAGE:
                log.write_items(run_id, missing)
                missing.clear()

    while True:
        rows = log.store.execute(
            "SELECT idx FROM loop_items WHERE run_id=? AND step_id=? AND idx>?"
            " ORDER BY idx LIMIT ?",
            (run_id, step_id, after, PAGE),
        ).fetchall()
        for (idx,) in rows:
            skip_until(idx)
            expected = idx + 1
        if len(rows) < PAGE:
            break
        after = rows[-1][0]
    skip_until(len(items))
    if missing:
        log.write_items(run_id, missing)


@contextlib.asynccontextmanager
async def _heartbeat(details: Callable[[], Any]) -> AsyncIterator[None]:
    """Heartbeat while the body runs (also through a long Retry-After wait), so a missed
    heartbeat means a lost worker, never a slow API."""
    timeout = activity.info().heartbeat_timeout
    every = max(0.5, timeout.total_seconds() / 4) if timeout else 10.0

    async def beat() -> None:
        while True:
            activity.heartbeat(details())
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _translated(body: Callable[[T], Awaitable[T]] | Any, arg: Any) -> Any:
    """Run an activity's body; an error of ours leaves as a non-retryable ApplicationError
    carrying its type and exit code (Temporal must not retry what our policy settled)."""
    # Only an execution after a lost one can find its calls' attempts journaled.
    RESUMING.set(activity.info().attempt > 1)
    try:
        return await body(arg)
    except ConnectorError as exc:
        child = exc.child_run_id if isinstance(exc, AlreadyRetried) else None
        raise ApplicationError(
            str(exc), exc.exit_code, child, type=type(exc).__name__, non_retryable=True
        ) from None
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug: the run stops with it, not retried forever
        raise ApplicationError(
            redact(f"{type(exc).__name__}: {exc}"), 1, None, type="internal", non_retryable=True
        ) from None
