"""Group commit of finished loop items: many items, one SQLite transaction.

A commit costs more than the row it writes (file locks and WAL writes), and a loop finishes
hundreds of items a second. So finished items of an idempotent loop are held briefly and
committed together, at most `max_items` at a time and no later than `max_delay` seconds
after the first of them finished. An item is acknowledged (its output counted, the progress
told) only once its batch has committed: a `kill -9` can lose items that finished but were
never acknowledged, and a retry runs those again, which an idempotent action allows.
An item of a loop that writes (a non-idempotent action) is committed at once, with
whatever is pending, before its worker moves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from connector.engine.runlog import ItemRecord

__all__ = ["ItemBatch", "ItemWriter"]

#: items committed together at most
MAX_ITEMS = 256
#: seconds an item may wait for its batch's commit at most
MAX_DELAY = 0.05


class ItemWriter(Protocol):
    def write_item(self, run_id: str, record: ItemRecord) -> str | None: ...

    def write_items(self, run_id: str, records: list[ItemRecord]) -> list[str | None]: ...


Committed = Callable[[ItemRecord, "str | None"], None]
#: `schedule(delay, callback)` -> a handle with `cancel()`; the event loop's `call_later`
Schedule = Callable[[float, Callable[[], None]], "asyncio.TimerHandle | Cancellable"]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class ItemBatch:
    """Finished items waiting for their commit; `committed(record, output_json)` is called
    for each once it is on disk. Use from one event loop; `close()` when the loop ends."""

    def __init__(
        self,
        log: ItemWriter,
        run_id: str,
        committed: Committed,
        *,
        max_items: int | None = None,
        max_delay: float | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        self._log = log
        self._run_id = run_id
        self._committed = committed
        self._max_items = MAX_ITEMS if max_items is None else max_items
        self._max_delay = MAX_DELAY if max_delay is None else max_delay
        self._schedule = schedule
        self._pending: list[ItemRecord] = []
        self._timer: asyncio.TimerHandle | Cancellable | None = None
        #: a commit that failed on the timer, raised to the next caller
        self._error: BaseException | None = None

    def add(self, record: ItemRecord, *, now: bool = False) -> None:
        """Queue a finished item; with `now` (or a full batch) commit before returning."""
        self._raise_pending_error()
        self._pending.append(record)
        if now or len(self._pending) >= self._max_items:
            self.flush()
        elif self._timer is None:
            schedule = self._schedule or asyncio.get_running_loop().call_later
            self._timer = schedule(self._max_delay, self._on_timer)

    def flush(self) -> None:
        """Commit every pending item in one transaction, then acknowledge them."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        records, self._pending = self._pending, []
        if len(records) == 1:  # one row commits on its own (a writing loop's every item)
            texts: list[str | None] = [self._log.write_item(self._run_id, records[0])]
        else:
            texts = self._log.write_items(self._run_id, records)
        if not isinstance(texts, list) or len(texts) != len(records):
            texts = [None] * len(records)  # a run log that returns no texts
        for record, text in zip(records, texts, strict=True):
            self._committed(record, text)

    def close(self) -> None:
        """Commit what is pending; raise a commit failure that happened in between."""
        self._raise_pending_error()
        self.flush()

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception as exc:  # raised to the loop by the next add() or close()
            self._error = exc

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
