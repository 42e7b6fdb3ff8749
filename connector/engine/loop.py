"""The loop executor: runs a loop step's body once per item, a bounded number at a time.

At most `batch_size` items are in flight, and never more than the tightest concurrent-
connection limit of the apps involved. Outputs keep the items' order. Finished items are
written to the run log in groups (item_batch.py), each counted as finished only once its group
has committed; a loop whose actions are not idempotent commits every item on its own.
With `on_item_error: stop` no new item starts after a failure (the rest are `skipped`);
with `continue` every item is tried. Either way a loop
with a failed item fails: the run pauses there, and a retry re-runs only what did not succeed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NoReturn

from connector.engine.attempts import error_dict
from connector.engine.item_batch import ItemBatch
from connector.engine.loop_item import idempotent_body, run_item
from connector.engine.runlog import ItemRecord, StoredItem, loop_output_json
from connector.engine.workflow import LoopStep
from connector.errors import ConnectorError, InvalidInput, RunLogError

if TYPE_CHECKING:
    from connector.engine.executor import Engine
    from connector.engine.reuse import ReusePlan

__all__ = ["run_loop"]


async def run_loop(
    engine: Engine,
    run_id: str,
    position: int,
    step: LoopStep,
    context: dict[str, Any],
    reuse: ReusePlan | None,
) -> Any:
    from connector.catalog.templates import render
    from connector.engine.executor import StepFailed

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
        if not isinstance(items, list):
            raise InvalidInput(
                f"loop.over must give an array, but gave {type(items).__name__}",
                where=f"steps.{step.id}.loop.over",
            )
    except ConnectorError as exc:
        fail_before_items(exc)

    total = len(items)
    outputs: list[Any] = [None] * total
    # Each item output's JSON as written: the loop's output is assembled from them.
    output_texts: list[str | None] = [None] * total
    status: list[str] = ["pending"] * total
    first_error: dict[str, Any] | None = None
    engine.progress.step_started(step.id, "loop", total)

    previous = reuse.reusable_items(step.id, step.definition, items) if reuse else {}
    carried: list[StoredItem] = []
    for idx, stored in previous.items():
        if stored.status == "succeeded":
            outputs[idx] = stored.output
            status[idx] = "succeeded"
            carried.append(stored)
    if carried and reuse is not None:
        # Copied as stored, in one transaction: their outputs' JSON is not written again.
        texts = log.copy_items(run_id, step.id, carried, reuse.parent_run_id)
        for stored, text in zip(carried, texts, strict=True):
            output_texts[stored.index] = text
            engine.progress.item_finished(step.id, True)

    todo: asyncio.Queue[int] = asyncio.Queue()
    for idx in range(total):
        if status[idx] == "pending":
            todo.put_nowait(idx)
    try:
        # A loop that cannot finish within what is left of the month fails before it starts.
        await engine.check_month(step, todo.qsize())
    except ConnectorError as exc:
        fail_before_items(exc)
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
        partial = previous.get(idx)
        before = partial.output if partial is not None else None
        record = await run_item(engine, run_id, step, context, items[idx], idx, before)
        ok = record.status == "succeeded"
        status[idx] = record.status
        if ok:
            outputs[idx] = record.output
        elif first_error is None:
            first_error = record.error
        batch.add(record, now=not idempotent)
        if not ok and step.on_item_error == "stop":
            stop.set()

    def committed(record: ItemRecord, text: str | None) -> None:
        ok = record.status == "succeeded"
        if ok:
            output_texts[record.index] = text
        engine.progress.item_finished(step.id, ok)

    # An idempotent loop's items are committed in groups; a writing loop's one by one.
    idempotent = idempotent_body(engine, step)
    batch = ItemBatch(log, run_id, committed)

    async def worker() -> None:
        while not stop.is_set():
            try:
                idx = todo.get_nowait()
            except asyncio.QueueEmpty:
                return
            await one(idx)

    width = step.batch_size
    limit = engine.concurrency_for(step)
    if limit:
        width = min(width, limit)
    width = max(1, min(width, todo.qsize() or 1))
    try:
        await asyncio.gather(*(worker() for _ in range(width)))
    finally:
        try:
            batch.close()  # even when interrupted: items that finished are kept
        except RunLogError as exc:
            log_failures.append(exc)
    if log_failures:
        raise log_failures[0]

    skipped = [idx for idx in range(total) if status[idx] == "pending"]
    if skipped:
        log.write_items(
            run_id,
            [
                ItemRecord(
                    step.id, idx, "skipped", items[idx], None, None, None, [], None, None, None
                )
                for idx in skipped
            ],
        )
    summary = {
        "total": total,
        "succeeded": status.count("succeeded"),
        "failed": status.count("failed"),
        "skipped": len(skipped),
    }
    result = {"items": outputs, "summary": summary}
    failed = summary["failed"] > 0
    step_error = None
    if failed and first_error is not None:
        step_error = {
            **first_error,
            "loop": f"{summary['failed']} of {total} items failed"
            + (f", {len(skipped)} skipped" if skipped else ""),
        }
    log.write_step(
        run_id,
        step.id,
        status="failed" if failed else "succeeded",
        started_at=started,
        finished_at=engine.clock.wall(),
        output=result,
        output_json=_assembled(outputs, output_texts, summary),
        error=step_error,
        summary=summary,
        **common,
    )
    detail = ", ".join(f"{k} {v}" for k, v in summary.items())
    engine.progress.step_finished(step.id, "failed" if failed else "succeeded", f"({detail})")
    if step_error is not None:
        raise StepFailed(step.id, step_error)
    return result


def _assembled(outputs: list[Any], texts: list[str | None], summary: dict[str, Any]) -> str | None:
    """The loop output's JSON from its items' texts; None (serialise the output instead)
    when an item with an output has no text, e.g. from a run log that returns none."""
    for output, text in zip(outputs, texts, strict=True):
        if output is not None and not isinstance(text, str):
            return None
    return loop_output_json(texts, summary)
