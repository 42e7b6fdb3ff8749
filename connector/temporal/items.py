"""A range of a loop's items, run by one activity through the engine's own call path.

Each item is what `engine/loop.py` makes of it: its body's steps called with
`Engine.call` (retry policy, rate budget, write intents and reconciliation), one
`ItemRecord` written to the run log through `ItemBatch` (grouped for an idempotent loop,
one by one for a loop that writes). Items of the range that already have a row in the run
log were finished by an earlier execution of the activity (a worker lost mid-range) and are
not run again; an item cut off mid-write left an open intent, which `Engine.call` checks
before anything is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector.engine.attempts import error_dict
from connector.engine.item_batch import ItemBatch
from connector.engine.runlog import ItemRecord, StoredItem
from connector.engine.workflow import LoopStep
from connector.errors import ConnectorError, RunLogError

if TYPE_CHECKING:
    from connector.engine.executor import Engine
    from connector.engine.runlog import RunLog

__all__ = ["finished_indexes", "run_item_range"]


def finished_indexes(log: RunLog, run_id: str, step_id: str, start: int, stop: int) -> set[int]:
    """Indexes in [start, stop) of loop `step_id` with a row in the run log."""
    rows = log.store.execute(
        "SELECT idx FROM loop_items WHERE run_id=? AND step_id=? AND idx>=? AND idx<?",
        (run_id, step_id, start, stop),
    ).fetchall()
    return {int(row[0]) for row in rows}


async def run_item_range(
    engine: Engine,
    run_id: str,
    step: LoopStep,
    context: dict[str, Any],
    items: list[Any],
    todo: list[int],
    previous: dict[int, StoredItem],
    on_item: Callable[[bool], None],
) -> int:
    """Run the items `todo` of loop `step`; returns how many failed. `on_item(ok)` is told
    of each once its row has committed."""
    log_failures: list[RunLogError] = []
    failed = 0
    queue = list(reversed(todo))
    stop = asyncio.Event()
    idempotent = _idempotent(engine, step)

    def committed(record: ItemRecord, text: str | None) -> None:
        on_item(record.status == "succeeded")

    batch = ItemBatch(engine.runlog, run_id, committed)

    async def worker() -> None:
        nonlocal failed
        while queue and not stop.is_set():
            idx = queue.pop()
            try:
                record = await _run_item(engine, run_id, step, context, items, idx, previous)
                batch.add(record, now=not idempotent)
            except RunLogError as exc:
                log_failures.append(exc)
                stop.set()
                return
            if record.status != "succeeded":
                failed += 1
                if step.on_item_error == "stop":
                    stop.set()

    width = step.batch_size
    limit = engine.concurrency_for(step)
    if limit:
        width = min(width, limit)
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(width, len(todo) or 1)))))
    finally:
        try:
            batch.close()  # even when cancelled: what finished is kept
        except RunLogError as exc:
            log_failures.append(exc)
    if log_failures:
        raise log_failures[0]
    return failed


async def _run_item(
    engine: Engine,
    run_id: str,
    step: LoopStep,
    context: dict[str, Any],
    items: list[Any],
    idx: int,
    previous: dict[int, StoredItem],
) -> ItemRecord:
    started = engine.clock.wall()
    partial = previous.get(idx)
    done_subs = dict(partial.output) if partial and isinstance(partial.output, dict) else {}
    steps_ctx = dict(context["steps"])
    item_ctx = {**context, "steps": steps_ctx, "item": items[idx], "index": idx}
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
        item=items[idx],
        inputs=inputs_log,
        output=output,
        error=error,
        attempts=attempts,
        started_at=started,
        finished_at=engine.clock.wall(),
        reused_from=None,
    )


def _idempotent(engine: Engine, step: LoopStep) -> bool:
    for sub in step.body:
        try:
            if not engine.catalog.get(sub.action).idempotent:
                return False
        except ConnectorError:
            return False
    return True
