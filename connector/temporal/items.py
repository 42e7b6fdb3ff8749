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

from connector.engine.attempt_journal import RESUMING, FirstAttemptsJournal
from connector.engine.item_batch import ItemBatch
from connector.engine.loop_item import idempotent_body, run_item
from connector.engine.runlog import ItemRecord
from connector.engine.workflow import LoopStep
from connector.errors import RunLogError

if TYPE_CHECKING:
    from connector.engine.executor import Engine
    from connector.engine.runlog import RunLog

__all__ = ["FirstAttempts", "finished_indexes", "held_once", "run_item_range"]

#: an array this long is worth looking for in the trigger (a short one costs nothing twice)
SHARED_FROM = 1000
#: mappings of the trigger looked into for the array a loop's items were rendered from
_LOOKED_INTO = 100


def held_once(trigger: Any, items: Sequence[Any]) -> Any:
    """The trigger, with the loop's rendered `items` in place of the equal array they were
    rendered from (`over: "{{ trigger.links }}"`), so that a worker holds a million items
    once, not twice: rendering copies every list and mapping it returns (templates.py's
    `_jsonable`), and the run's context keeps the trigger for the items' own templates.
    Equal JSON values, so nothing a template reads changes; the trigger is the worker's
    own copy, decoded from the run log."""
    if not isinstance(items, list) or len(items) < SHARED_FROM:
        return trigger
    if isinstance(trigger, list):
        return items if trigger == items else trigger
    mappings = [trigger] if isinstance(trigger, dict) else []
    for mapping in mappings:  # breadth first, grows as it goes
        for key, value in mapping.items():
            if isinstance(value, list) and len(value) == len(items) and value == items:
                mapping[key] = items
                return trigger
            if isinstance(value, dict) and len(mappings) < _LOOKED_INTO:
                mappings.append(value)
    return trigger


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
    width = step.batch_size
    limit = engine.concurrency_for(step)
    if limit:
        width = min(width, limit)
    ahead = FirstAttempts.of(engine, run_id, step, partial, width)

    async def worker() -> None:
        nonlocal failed
        while queue and not stop.is_set() and not engine.cancel_requested(run_id):
            idx = queue.pop()
            try:
                if ahead is not None:
                    ahead.before(idx, queue)
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

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(width, len(todo) or 1)))))
    finally:
        if ahead is not None:
            ahead.close()
        try:
            batch.close()  # even when cancelled: what finished is kept
        except RunLogError as exc:
            log_failures.append(exc)
    if log_failures:
        raise log_failures[0]
    return failed


#: journal the first attempts of the items about to start together (FirstAttempts); off
#: only to measure the journal's cost without it (bench/temporal_workers.py)
JOURNAL_AHEAD = True


class FirstAttempts:
    """Attempt 1 of the items a range is about to start, journaled in one statement per
    `width` items (FirstAttemptsJournal) rather than one round trip per item.

    When an item starts and its first attempt is not journaled yet, it is journaled with the
    next `width - 1` items of the queue: the ones the range's other `width - 1` lanes take
    up next. So at most `width - 1` items are journaled before they start; if the worker is
    lost then, each reads as one attempt lost when resumed (attempt_journal.py)."""

    def __init__(
        self, journal: FirstAttemptsJournal, engine: Engine, run_id: str, step: LoopStep,
        partial: dict[int, Any], width: int,
    ) -> None:  # fmt: skip
        self._journal = journal
        self._engine = engine
        self._run_id = run_id
        self._step_id = step.id
        # The call an item starts with: its body's first step (sub-step "" for one action).
        self._sub_step = "" if step.single else step.body[0].id
        self._partial = partial
        self._width = width
        self._done: set[int] = set()

    @classmethod
    def of(
        cls, engine: Engine, run_id: str, step: LoopStep, partial: dict[int, Any], width: int
    ) -> FirstAttempts | None:
        """For a range's first execution on a worker whose journal journals ahead: a
        resumed one reads each call's earlier attempts first, one by one."""
        journal = engine.journal
        if not JOURNAL_AHEAD or not isinstance(journal, FirstAttemptsJournal) or RESUMING.get():
            return None
        return cls(journal, engine, run_id, step, partial, width)

    def before(self, idx: int, queue: list[int]) -> None:
        """Item `idx` starts now; `queue` holds the items still to start, next last."""
        if idx in self._done:
            return
        # An item partly done in the parent run starts with a later sub-step: not ahead.
        next_up = queue[len(queue) - self._width + 1 :][::-1] if self._width > 1 else []
        chosen = [i for i in (idx, *next_up) if i not in self._partial]
        self._done.update((idx, *chosen))
        self._journal.first_attempts(
            self._run_id, self._step_id, self._sub_step, chosen, self._engine.clock.wall()
        )

    def close(self) -> None:
        """The range ended: items journaled ahead and not started are no longer expected."""
        self._journal.forget_ahead(self._run_id, self._step_id, sorted(self._done), self._sub_step)
