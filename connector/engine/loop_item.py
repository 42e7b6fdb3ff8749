"""One loop item: its body's steps called in order through `Engine.call`, as one run-log
record. Shared by the embedded loop (`loop.py`) and the ranges a Temporal worker runs
(`connector/temporal/items.py`), so an item is the same whichever runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.engine.attempts import error_dict
from connector.engine.run_records import ItemRecord
from connector.engine.workflow import LoopStep
from connector.errors import ConnectorError

if TYPE_CHECKING:
    from connector.engine.executor import Engine

__all__ = ["idempotent_body", "run_item"]


async def run_item(
    engine: Engine,
    run_id: str,
    step: LoopStep,
    context: dict[str, Any],
    item: Any,
    idx: int,
    before: Any = None,
) -> ItemRecord:
    """Run item `idx` (`item`) of loop `step`; `before` is the parent run's output of a
    multi-step item that failed, whose succeeded sub-steps are taken, not repeated."""
    item_started = engine.clock.wall()
    done_subs = dict(before) if isinstance(before, dict) else {}
    steps_ctx = dict(context["steps"])
    item_ctx = {**context, "steps": steps_ctx, "item": item, "index": idx}
    attempts: list[dict[str, Any]] = []
    sub_outputs: dict[str, Any] = {}
    inputs_log: Any = None
    error: dict[str, Any] | None = None
    for sub in step.body:
        if not step.single and sub.id in done_subs:
            # This sub-step succeeded in the parent run: never repeat it.
            sub_outputs[sub.id] = done_subs[sub.id]
            steps_ctx[sub.id] = {"output": done_subs[sub.id]}
            continue
        where = f"steps.{step.id}[{idx}]" + ("" if step.single else f".{sub.id}")
        target = engine.target(run_id, step.id, idx, "" if step.single else sub.id)
        inputs, outcome = await engine.call(sub, item_ctx, where=where, target=target)
        for attempt in outcome.attempts:
            attempts.append(attempt if step.single else {"step": sub.id, **attempt})
        inputs_log = inputs if step.single else {**(inputs_log or {}), sub.id: inputs}
        if outcome.error is not None:
            error = error_dict(outcome.error)
            break
        sub_outputs[sub.id] = outcome.output
        steps_ctx[sub.id] = {"output": outcome.output}
    output = sub_outputs.get(step.id) if step.single else sub_outputs or None
    return ItemRecord(
        step_id=step.id,
        index=idx,
        status="succeeded" if error is None else "failed",
        item=item,
        inputs=inputs_log,
        output=output,
        error=error,
        attempts=attempts,
        started_at=item_started,
        finished_at=engine.clock.wall(),
        reused_from=None,
    )


def idempotent_body(engine: Engine, step: LoopStep) -> bool:
    """True when every action of the loop's body may be repeated safely."""
    for sub in step.body:
        try:
            if not engine.catalog.get(sub.action).idempotent:
                return False
        except ConnectorError:
            return False
    return True
