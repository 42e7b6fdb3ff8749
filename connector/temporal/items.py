"""A range of a loop's items, run by one activity through the engine's own call path.

Each item is what the embedded loop makes of it (`engine/loop_item.py`): its body's steps
called with `Engine.call` (retry policy, rate budget, write intents and reconciliation), one
`ItemRecord` written to the run log through `ItemBatch` (grouped for an idempotent loop,
one by one for a loop that writes). Items of the range that already have a row in the run
log were finished by an earlier execution of the activity (a worker lost mid-range) and are
not run again; an item cut off mid-write left an open intent, which `Engine.call` checks
before anything is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from connector.engine.item_batch import ItemBatch
from connector.engine.loop_item import idempotent_body, run_item
from connector.engine.runlog import ItemRecord
from connector.engine.workflow import LoopStep
from connector.errors import RunLogError

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
    items: Sequence[Any],
    todo: list[int],
    partial: dict[int, Any],
    on_item: Callable[[bool], None],
) -> int:
    """Run the items `todo` of loop `step`; returns how many failed. `partial` holds the
    parent run's outputs of items partly done; `on_item(ok)` is told of each item once its
    row has committed."""
    log_failures: list[RunLogError] = []
    failed = 0
    queue = list(reversed(todo))
    stop = asyncio.Event()
    idempotent = idempotent_body(engine, step)

    def committed(record: ItemRecord, text: str | None) -> None:
        on_item(record.status == "succeeded")

    batch = ItemBatch(engine.runlog, run_id, committed)

    async def worker() -> None:
        nonlocal failed
        while queue and not stop.is_set() and not engine.cancel_requested(run_id):
            idx = queue.pop()
            try:
                before = partial.get(idx)
                record = await run_item(engine, run_id, step, context, items[idx], idx, before)
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
