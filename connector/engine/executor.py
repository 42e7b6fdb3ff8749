"""The engine: runs a validated workflow step by step and records everything in the run log.

A failed step pauses the run there (status `failed`, the step, the API's error, every
attempt). Loops are delegated to `loop.py`; single calls with their retries to `attempts.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Any

from connector.clock import Clock, SystemClock
from connector.engine.attempt_journal import AttemptJournal
from connector.engine.attempts import CallOutcome, call_action, error_dict
from connector.engine.limits import check_month, ensure_learned, learn_hook
from connector.engine.progress import NullProgress, Progress
from connector.engine.protocols import CatalogLike, RunnerLike
from connector.engine.rate_budget import RateBudget
from connector.engine.retry_policy import RandomSource
from connector.engine.reuse import ReusePlan
from connector.engine.run_cancel import CANCELLED_ERROR, POLL_EVERY, cancel_requested
from connector.engine.run_limits import RUN_LIMITS, RunLimits, RunLimitsCache, run_limits
from connector.engine.runlog import RunLog
from connector.engine.workflow import ActionStep, AggregateStep, LoopStep, Workflow
from connector.engine.writes import WriteTarget, guarded_call, write_safety
from connector.errors import ConnectorError, QuotaExhausted, RunLogError

__all__ = ["Engine", "RunCancelled", "RunResult", "StepFailed"]


@dataclass(repr=False)
class RunResult:
    run_id: str
    status: str
    output: Any
    error: dict[str, Any] | None
    failed_step: str | None
    started_at: float
    finished_at: float

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def __repr__(self) -> str:
        # Without the output: a loop's holds every item, and asyncio and anyio put the repr
        # of a finished task's result into messages (0.2 s for 10,000 items, even unshown).
        return f"RunResult(run_id={self.run_id!r}, status={self.status!r})"


class StepFailed(Exception):
    """Internal: a step failed; carries its error dict up to the run."""

    def __init__(self, step_id: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "step failed"))
        self.step_id = step_id
        self.error = error


class RunCancelled(StepFailed):
    """Internal: the run was cancelled (Engine.cancel) and stopped before `step_id`, or
    between its items; what was in flight finished and was recorded."""

    def __init__(self, step_id: str) -> None:
        super().__init__(step_id, dict(CANCELLED_ERROR))


class Engine:
    def __init__(
        self,
        catalog: CatalogLike,
        runner: RunnerLike,
        runlog: RunLog,
        *,
        budgets: dict[str, RateBudget] | None = None,
        clock: Clock | None = None,
        rng: RandomSource | None = None,
        progress: Progress | None = None,
        max_wait: float | None = None,
    ) -> None:
        self.catalog = catalog
        #: the longest wait before a retry any call of this engine accepts (--max-wait)
        self.max_wait = max_wait
        self.runner = runner
        self.runlog = runlog
        self.budgets = budgets or {}
        self.clock: Clock = clock or SystemClock()
        self.rng: RandomSource = rng or random.Random()
        self.progress: Progress = progress or NullProgress()
        #: run id -> (its lineage, the user's resolutions of open writes by item label)
        self._lineages: dict[str, tuple[str, dict[str, str]]] = {}
        #: runs asked to stop (cancel): no new step or loop item starts
        self._cancelled: set[str] = set()
        #: run id -> when its cancel request was last read from the run log (clock.now())
        self._cancel_read: dict[str, float] = {}
        #: each call's attempts journaled as made, where a run may be resumed by another
        #: process (a Temporal worker sets it; attempt_journal.py)
        self.journal: AttemptJournal | None = None
        #: runs' own windows (their workflows' `limits`), kept while they may count
        self.run_limits = RunLimitsCache(self.clock.wall)

    def cancel(self, run_id: str) -> None:
        """Stop run `run_id` cooperatively: items and calls in flight finish and are
        recorded (no write is left without its outcome), nothing new starts, and the run
        ends `cancelled` (retryable like a failed run). Any other process asks for the
        same through the run log (`run_cancel.request_cancel`)."""
        self._cancelled.add(run_id)

    def cancel_requested(self, run_id: str, *, fresh: bool = False) -> bool:
        """Whether run `run_id` is to stop: asked of this engine, or in the run log (read
        at most every POLL_EVERY seconds, or now when `fresh`)."""
        if run_id in self._cancelled:
            return True
        now = self.clock.now()
        last = self._cancel_read.get(run_id)
        if not fresh and last is not None and now - last < POLL_EVERY:
            return False
        self._cancel_read[run_id] = now
        try:
            asked = cancel_requested(self.runlog, run_id)
        except RunLogError:
            return False  # read again at the next poll; the run's own writes say if it is lost
        if asked:
            self._cancelled.add(run_id)
        return asked

    def forget_run(self, run_id: str, workflow: Workflow | None = None) -> None:
        """Drop what this engine keeps for a run that ended (bound by `bind_run`); with its
        `workflow`, the run's own windows of a shared budget too, though this engine never
        bound the run."""
        self._lineages.pop(run_id, None)
        self._cancelled.discard(run_id)
        self._cancel_read.pop(run_id, None)
        limits = self.run_limits.forget(run_id)
        budgets = set(limits.windows) if limits is not None else set()
        for app in workflow.limits if workflow is not None else ():
            if app in self.budgets:
                budgets.add(self.budgets[app])
        for budget in budgets:
            budget.forget_run(run_id)

    async def run(
        self,
        workflow: Workflow,
        trigger: Any,
        *,
        parent_run_id: str | None = None,
        reuse: ReusePlan | None = None,
        resolve: dict[str, str] | None = None,
    ) -> RunResult:
        """Run `workflow`; a retry names its parent (and may resolve open writes by label:
        "each[3]" -> "applied" | "not_applied")."""
        started = self.clock.wall()
        run_id = self.runlog.create_run(
            workflow=workflow.document,
            trigger=trigger,
            source_path=workflow.source,
            parent_run_id=parent_run_id,
            started_at=started,
        )
        lineage = self.runlog.lineage_of(parent_run_id) if parent_run_id else run_id
        self._lineages[run_id] = (lineage, dict(resolve or {}))
        bound = RUN_LIMITS.set(self._run_limits(run_id, workflow))
        context: dict[str, Any] = {"trigger": trigger, "steps": {}}
        current: str | None = None
        try:
            for position, step in enumerate(workflow.steps):
                current = step.id
                if self.cancel_requested(run_id, fresh=True):
                    raise RunCancelled(step.id)
                output = await self._step(run_id, position, step, context, reuse)
                context["steps"][step.id] = {"output": output}
            output = self._render_output(workflow, context)
        except RunCancelled as cancelled:
            error = cancelled.error
            return self._finish(run_id, started, "cancelled", None, error, cancelled.step_id)
        except StepFailed as failed:
            return self._finish(run_id, started, "failed", None, failed.error, failed.step_id)
        except RunLogError as exc:
            return self._log_failed(run_id, started, exc, current)
        finally:
            RUN_LIMITS.reset(bound)
            self.forget_run(run_id, workflow)
        return self._finish(run_id, started, "succeeded", output, None, None)

    def bind_run(
        self,
        run_id: str,
        workflow: Workflow,
        lineage: str,
        resolve: dict[str, str] | None = None,
    ) -> None:
        """Prepare the current task (and the tasks it starts) for steps of run `run_id`
        outside `run` (a distributed executor runs them one activity at a time, each in a
        task of its own: connector/temporal): paced by the workflow's limits on top of its
        apps' budgets, for this run only, and its writes recorded under `lineage`."""
        self._lineages[run_id] = (lineage, dict(resolve or {}))
        RUN_LIMITS.set(self._run_limits(run_id, workflow))

    async def run_step(
        self,
        run_id: str,
        position: int,
        step: ActionStep | LoopStep | AggregateStep,
        context: dict[str, Any],
        reuse: ReusePlan | None,
    ) -> Any:
        """One step of a bound run, exactly as `run` runs it (a loop whole, in-process)."""
        return await self._step(run_id, position, step, context, reuse)

    def render_output(self, workflow: Workflow, context: dict[str, Any]) -> Any:
        """The run's output from its steps' outputs (StepFailed("output") when it fails)."""
        return self._render_output(workflow, context)

    def _log_failed(
        self, run_id: str, started: float, exc: RunLogError, step_id: str | None
    ) -> RunResult:
        """The run log could not be written: the run stopped before sending anything more.
        The failure is recorded if the log takes it (exit 1), else raised (exit 2)."""
        try:
            return self._finish(run_id, started, "failed", None, error_dict(exc), step_id)
        except RunLogError:
            raise exc from None

    def target(
        self, run_id: str, step_id: str, index: int = -1, sub_step: str = ""
    ) -> WriteTarget | None:
        """Where a write of this run belongs, for its intent (None outside a run)."""
        lineage = self._lineages.get(run_id)
        if lineage is None:
            return None
        base = WriteTarget(lineage[0], run_id, step_id, index, sub_step)
        resolutions = lineage[1]
        if not resolutions:  # the usual run: no --resolve given
            return base
        resolution = resolutions.get(base.label) or resolutions.get(base.item_label)
        return WriteTarget(lineage[0], run_id, step_id, index, sub_step, resolution)

    def _run_limits(self, run_id: str, workflow: Workflow) -> RunLimits | None:
        """The run's own windows, for the limits its workflow sets (run_limits.py): never
        applied to the apps' budgets, which every run of this engine shares."""
        if not workflow.limits:
            return None
        return self.run_limits.bind(
            run_id, lambda: run_limits(run_id, workflow.limits, self.budgets)
        )

    async def learn_limits(self, app: str) -> None:
        """Pace `app` by the account's own limits, read from its API once per process."""
        budget = self.budgets.get(app)
        client = getattr(self.runner, "client", None)
        credential = getattr(self.runner, "credential", None)
        spec = self.catalog.apps.get(app)
        if budget is None:
            return
        if not budget.spec.learn or client is None or credential is None or not learn_hook(spec):
            # nothing to learn: never asked again for this budget
            budget.learned_at = budget.clock.now()
            budget.stale = False
            return
        where = f"{app}.limits"
        try:
            await ensure_learned(app, spec, budget, client(app, where), credential(app, where))
        except ConnectorError:
            # Not knowable now (a missing credential, an API error): pace by the declared
            # figures; the call itself reports what is wrong.
            return

    async def check_month(self, step: LoopStep, items: int) -> None:
        """Raise QuotaExhausted, before any request of the loop, when its `items` would
        exceed what is left of a monthly plan figure of an app the body calls."""
        if items <= 0:
            return
        per_app: dict[str, dict[str, int]] = {}
        for sub in step.body:
            action = self.catalog.get(sub.action)
            hook = learn_hook(self.catalog.apps.get(action.app))
            budget = self.budgets.get(action.app)
            if hook is None or budget is None or not budget.spec.learn:
                continue  # nothing to read, or limits given outright (overrides)
            request = getattr(action, "request", None)
            method = getattr(request, "method", "") if request is not None else ""
            path = getattr(request, "path", "") if request is not None else ""
            uses = per_app.setdefault(action.app, {})
            for name in hook.plan_use(method, path):
                uses[name] = uses.get(name, 0) + 1
        for app, per_item in per_app.items():
            client = getattr(self.runner, "client", None)
            if client is None or not per_item:
                continue
            hook = learn_hook(self.catalog.apps.get(app))
            budget = self.budgets.get(app)
            if budget is not None and budget.learned_at is None:
                await self.learn_limits(app)  # its request counts too: before the plan
            try:
                figures = await hook.plan_limits(client(app, f"{app}.limits"))  # type: ignore[union-attr]
            except QuotaExhausted:
                raise
            except ConnectorError:
                continue  # the plan cannot be read: the API will say when it runs out
            check_month(figures, per_item, items, where=f"steps.{step.id}")

    def _finish(
        self,
        run_id: str,
        started: float,
        status: str,
        output: Any,
        error: dict[str, Any] | None,
        failed_step: str | None,
    ) -> RunResult:
        finished = self.clock.wall()
        self.runlog.finish_run(
            run_id,
            status=status,
            finished_at=finished,
            output=output,
            error=error,
            failed_step=failed_step,
        )
        return RunResult(run_id, status, output, error, failed_step, started, finished)

    def _render_output(self, workflow: Workflow, context: dict[str, Any]) -> Any:
        from connector.catalog.templates import render

        if workflow.output is None:
            last = workflow.steps[-1].id
            return context["steps"][last]["output"]
        try:
            return render(workflow.output, context, where="output")
        except ConnectorError as exc:
            raise StepFailed("output", error_dict(exc)) from None

    async def _step(
        self,
        run_id: str,
        position: int,
        step: ActionStep | LoopStep | AggregateStep,
        context: dict[str, Any],
        reuse: ReusePlan | None,
    ) -> Any:
        if reuse is not None:
            record = reuse.reusable_step(step.id, step.definition)
            if record is not None:
                self._copy_step(run_id, position, step, record, reuse)
                self.progress.step_finished(step.id, "reused", f"from run {reuse.parent_run_id}")
                return record.output
        if isinstance(step, LoopStep):
            from connector.engine.loop import run_loop

            return await run_loop(self, run_id, position, step, context, reuse)
        if isinstance(step, AggregateStep):
            return self._aggregate_step(run_id, position, step, context)
        return await self._action_step(run_id, position, step, context)

    def _aggregate_step(
        self, run_id: str, position: int, step: AggregateStep, context: dict[str, Any]
    ) -> Any:
        from connector.catalog.templates import render
        from connector.engine.aggregate import aggregate

        started = self.clock.wall()
        where = f"steps.{step.id}.aggregate"
        output: Any = None
        error: dict[str, Any] | None = None
        try:
            output = aggregate(render(step.over, context, where=where), step.fields, where=where)
        except ConnectorError as exc:
            error = error_dict(exc)
        status = "succeeded" if error is None else "failed"
        self.runlog.write_step(
            run_id,
            step.id,
            position=position,
            kind="aggregate",
            status=status,
            definition=step.definition,
            started_at=started,
            finished_at=self.clock.wall(),
            output=output,
            error=error,
        )
        self.progress.step_finished(step.id, status, _brief(error))
        if error is not None:
            raise StepFailed(step.id, error)
        return output

    def _copy_step(
        self,
        run_id: str,
        position: int,
        step: ActionStep | LoopStep | AggregateStep,
        record: Any,
        reuse: ReusePlan,
    ) -> None:
        self.runlog.write_step(
            run_id,
            step.id,
            position=position,
            kind=step.kind,
            status="succeeded",
            definition=step.definition,
            started_at=record.started_at,
            finished_at=record.finished_at,
            inputs=record.inputs,
            output=record.output,
            attempts=record.attempts,
            summary=record.summary,
            reused_from=reuse.parent_run_id,
        )
        if isinstance(step, LoopStep):
            self.runlog.copy_step_items(run_id, step.id, reuse.parent_run_id)

    async def _action_step(
        self, run_id: str, position: int, step: ActionStep, context: dict[str, Any]
    ) -> Any:
        started = self.clock.wall()
        self.progress.step_started(step.id, "action")
        common: dict[str, Any] = {
            "position": position,
            "kind": "action",
            "definition": step.definition,
        }
        self.runlog.write_step(run_id, step.id, status="running", started_at=started, **common)
        inputs, outcome = await self.call(
            step, context, where=f"steps.{step.id}", target=self.target(run_id, step.id)
        )
        status = "succeeded" if outcome.ok else "failed"
        error = error_dict(outcome.error) if outcome.error is not None else None
        self.runlog.write_step(
            run_id,
            step.id,
            status=status,
            started_at=started,
            finished_at=self.clock.wall(),
            inputs=inputs,
            output=outcome.output,
            error=error,
            attempts=outcome.attempts,
            **common,
        )
        self.progress.step_finished(step.id, status, _brief(error))
        if error is not None:
            raise StepFailed(step.id, error)
        return outcome.output

    async def call(
        self,
        step: ActionStep,
        context: dict[str, Any],
        *,
        where: str,
        target: WriteTarget | None = None,
    ) -> tuple[dict[str, Any] | None, CallOutcome]:
        """Prepare a step's inputs against `context` and call its action with retries; a
        non-idempotent write with a `target` is guarded by an intent (writes.py)."""
        try:
            action = self.catalog.get(step.action)
            inputs = self.catalog.prepare_inputs(step.action, step.inputs, context)
        except ConnectorError as exc:
            return None, CallOutcome(error=_located(exc, where))
        budget = self.budgets.get(action.app)
        if budget is not None and (budget.learned_at is None or budget.stale):
            await self.learn_limits(action.app)
        limit = getattr(action, "rate_limit", None)
        calls = None  # the call's journal: a resumed call continues its attempts
        if self.journal is not None and target is not None:
            calls = self.journal.for_call(target, self.clock.wall)

        async def send(sent: dict[str, Any], reconcile_first: bool = False) -> CallOutcome:
            pace = None
            if budget is not None and limit is not None:
                # Inside the call: a full bucket's wait is capped and announced like any.
                bucket, cost = limit.bucket, _cost(sent, limit.cost_input)
                pace = partial(budget.pace_bucket, bucket, cost)
            return await call_action(
                action=action,
                runner=self.runner,
                inputs=sent,
                policy=step.retry,
                clock=self.clock,
                rng=self.rng,
                where=where,
                budget=budget,
                max_wait=self.max_wait,
                on_wait=lambda seconds, reason: self.progress.waiting(where, seconds, reason),
                reconcile_first=reconcile_first,
                journal=calls,
                pace=pace,
            )

        safety = write_safety(action)
        if target is None or not safety.guarded:
            return inputs, await send(inputs)
        outcome = await guarded_call(
            intents=self.runlog.intents,
            action_id=action.id,
            safety=safety,
            inputs=inputs,
            target=target,
            send=send,
            now=self.clock.wall,
            where=where,
        )
        return inputs, outcome

    def concurrency_for(self, step: LoopStep) -> int | None:
        """The tightest concurrent-connection limit among the apps a loop body calls (the
        app's, or the current run's own)."""
        run = RUN_LIMITS.get()
        limits = []
        for sub in step.body:
            app = sub.action.split(".", 1)[0]
            budget = self.budgets.get(app)
            if budget is not None and budget.concurrency:
                limits.append(budget.concurrency)
            if run is not None and app in run.concurrency:
                limits.append(run.concurrency[app])
        return min(limits) if limits else None


def _cost(inputs: dict[str, Any], cost_input: str | None) -> int:
    if not cost_input:
        return 1
    value = inputs.get(cost_input)
    if isinstance(value, list | tuple):
        return max(1, len(value))
    return value if isinstance(value, int) and value > 0 else 1


def _located(exc: ConnectorError, where: str) -> ConnectorError:
    if exc.where is None:
        exc.where = where
    return exc


def _brief(error: dict[str, Any] | None) -> str:
    return f"({error.get('message')})" if error else ""
