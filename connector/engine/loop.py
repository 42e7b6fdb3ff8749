"""The loop executor: runs a loop step's body once per item, a bounded number at a time.

At most `batch_size` items are in flight, and never more than the tightest concurrent-
connection limit of the apps involved. Outputs keep the items' order. Finished items are
written to the run log in groups (item_batch.py), each counted as finished only once its group
has committed; a loop whose actions are not idempotent commits every item on its own.
With `on_item_error: stop` no new item starts after a failure (the rest are `skipped`);
with `continue` every item is tried. Either way a loop
with a failed item fails: the run pauses there, and a retry re-runs only what did not succeed.

Memory does not grow with the item count: outputs go to the run log as items finish and
the loop's output is `{"items": LoopItems, "summary": ...}`, its items read back from the
log on demand (loop_items.py); what the loop keeps per item is one status byte.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NoReturn

from connector.engine.attempts import error_dict
from connector.engine.item_batch import ItemBatch
from connector.engine.loop_item import idempotent_body, run_item
from connector.engine.loop_items import LoopItems
from connector.engine.runlog import ItemRecord, StoredItem
from connector.engine.workflow import LoopStep
from connector.errors import ConnectorError, InvalidInput, RunLogError
from connector.lazy_array import PAGE, LazyArray

if TYPE_CHECKING:
    from connector.engine.executor import Engine
    from connector.engine.reuse import ReusePlan

__all__ = ["run_loop"]

# An item's state, one byte each (a bytearray of a million is 1 MB).
_PENDING, _SUCCEEDED, _FAILED, _HELD = 0, 1, 2, 3


async def run_loop(
    engine: Engine,
    run_id: str,
    position: int,
    step: LoopStep,
    context: dict[str, Any],
    reuse: ReusePlan | None,
) -> Any:
    from connector.catalog.templates import render
    from connector.engine.executor import RunCancelled, StepFailed

    log = engine.runlog
    started = engine.clock.wall()
    common: dict[str, Any] = {"position": position, "kind": "loop", "definition": step.definition}
    log.write_step(run_id, step.id, status="running", started_at=started, **common)

    def fail_before_items(exc: ConnectorError) -> NoReturn:
        error = error_dict(exc)
        log.write_step(
            run_id, step.id, status="failed", started_at=started,
            finished_at=engine.clock.wall(), error=error, **common,
        )  # fmt: skip
        engine.progress.step_finished(step.id, "failed", f"({exc})")
        raise StepFailed(step.id, error) from None

    try:
        items = render(step.over, context, where=f"steps.{step.id}.loop.over")
        if not isinstance(items, list | LazyArray):
            raise InvalidInput(
                f"loop.over must give an array, but gave {type(items).__name__}",
                where=f"steps.{step.id}.loop.over",
            )
    except ConnectorError as exc:
        fail_before_items(exc)

    total = len(items)
    status = bytearray(total)
    first_error: dict[str, Any] | None = None
    engine.progress.step_started(step.id, "loop", total)

    #: the parent run's failed multi-step items with outputs: their succeeded sub-steps
    partial: dict[int, StoredItem] = {}
    held_skipped = 0
    if reuse is not None:
        for page in reuse.reusable_item_pages(step.id, step.definition, items):
            # held: a retry of chosen items carries the others over as they were
            carried = [
                stored
                for stored in page
                if stored.status == "succeeded" or reuse.held(step.id, stored.index)
            ]
            if not step.single:  # only a multi-step item has sub-steps to hand over
                partial.update(
                    (s.index, s)
                    for s in page
                    if s.status != "succeeded" and not reuse.held(step.id, s.index)
                )
            if carried:
                # Copied as stored, a page per transaction: their JSON is not written again.
                log.copy_items(run_id, step.id, carried, reuse.parent_run_id)
                for stored in carried:
                    if stored.status == "succeeded":
                        status[stored.index] = _SUCCEEDED
                    elif stored.status == "failed":
                        status[stored.index] = _FAILED
                        if first_error is None:
                            first_error = stored.error
                    else:
                        status[stored.index] = _HELD
                        held_skipped += 1
                    engine.progress.item_finished(step.id, stored.status == "succeeded")

    todo = status.count(_PENDING)
    try:
        # A loop that cannot finish within what is left of the month fails before it starts.
        await engine.check_month(step, todo)
    except ConnectorError as exc:
        fail_before_items(exc)
    # The indexes still to run, taken by the workers in order (never a list of them all).
    pending = (idx for idx in range(total) if status[idx] == _PENDING)
    stop = asyncio.Event()
    #: the run log could not be written: no new item starts, and the run stops
    log_failures: list[RunLogError] = []

    async def one(idx: int) -> None:
        try:
            await item(idx)
        except RunLogError as exc:
            log_failures.append(exc)
            stop.set()

    async def item(idx: int) -> None:
        nonlocal first_error
        before = partial.pop(idx, None)
        output = before.output if before is not None else None
        record = await run_item(engine, run_id, step, context, items[idx], idx, output)
        ok = record.status == "succeeded"
        status[idx] = _SUCCEEDED if ok else _FAILED
        if not ok and first_error is None:
            first_error = record.error
        batch.add(record, now=not idempotent)
        if not ok and step.on_item_error == "stop":
            stop.set()

    def committed(record: ItemRecord, text: str | None) -> None:
        engine.progress.item_finished(step.id, record.status == "succeeded")

    # An idempotent loop's items are committed in groups; a writing loop's one by one.
    idempotent = idempotent_body(engine, step)
    batch = ItemBatch(log, run_id, committed)

    async def worker() -> None:
        while not stop.is_set() and not engine.cancel_requested(run_id):
            idx = next(pending, None)
            if idx is None:
                return
            await one(idx)

    width = step.batch_size
    limit = engine.concurrency_for(step)
    if limit:
        width = min(width, limit)
    width = max(1, min(width, todo or 1))
    try:
        await asyncio.gather(*(worker() for _ in range(width)))
    finally:
        try:
            batch.close()  # even when interrupted: items that finished are kept
        except RunLogError as exc:
            log_failures.append(exc)
    if log_failures:
        raise log_failures[0]

    skipped = _write_skipped(log, run_id, step.id, items, status)
    summary = {
        "total": total,
        "succeeded": status.count(_SUCCEEDED),
        "failed": status.count(_FAILED),
        "skipped": skipped + held_skipped,
    }
    result = {"items": LoopItems(log, run_id, step.id, total), "summary": summary}
    cancelled = bool(skipped) and engine.cancel_requested(run_id)
    failed = summary["failed"] > 0
    step_status = "cancelled" if cancelled else "failed" if failed else "succeeded"
    step_error = None
    if failed and first_error is not None:
        step_error = {
            **first_error,
            "loop": f"{summary['failed']} of {total} items failed"
            + (f", {skipped} skipped" if skipped else ""),
        }
    log.write_step(
        run_id,
        step.id,
        status=step_status,
        started_at=started,
        finished_at=engine.clock.wall(),
        output=result,
        error=step_error,
        summary=summary,
        **common,
    )
    detail = ", ".join(f"{k} {v}" for k, v in summary.items())
    engine.progress.step_finished(step.id, step_status, f"({detail})")
    if cancelled:
        raise RunCancelled(step.id)
    if step_error is not None:
        raise StepFailed(step.id, step_error)
    return result


def _write_skipped(log: Any, run_id: str, step_id: str, items: Any, status: bytearray) -> int:
    """Record the items that never ran as `skipped`, a page per transaction; how many."""
    count = 0
    page: list[ItemRecord] = []
    for idx in range(len(status)):
        if status[idx] != _PENDING:
            continue
        page.append(
            ItemRecord(step_id, idx, "skipped", items[idx], None, None, None, [], None, None, None)
        )
        if len(page) >= PAGE:
            log.write_items(run_id, page)
            count += len(page)
            page = []
    if page:
        log.write_items(run_id, page)
        count += len(page)
    return count
