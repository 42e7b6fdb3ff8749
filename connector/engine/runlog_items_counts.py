"""A running loop's items by status, counted again at each view only where they can still
change.

Counting a loop's rows by status reads every row (the status is not in the primary key's
index): about a second at 1,000,000 items on SQLite, and a run's page is polled every
second or two while its loop runs. But an item's row is written once, when the item has
finished (succeeded, failed, or skipped by a cancel): the engine and the Temporal workers
never run an item that has a row again, and rows are never deleted. So a block of
`BLOCK` consecutive indices whose rows are all there with a finished status never changes
again: its counts are kept (per loop, in the process that reads) and only the other
blocks are counted, one keyset range query (`idx >= ? AND idx < ?`, on the primary key)
per run of blocks not yet full. While a loop runs, that is the block(s) its workers are on:
a view of a running loop of a million items counts what one of ten thousand does.

Correct with any number of writers (several Temporal workers writing items of one loop,
out of order): a block is kept only once all its rows are written, whatever order they
came in, and a row counted is counted once (the ranges are disjoint). Counted on SQLite
and PostgreSQL alike, with no column or table of its own (no migration).
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connector.engine.runlog_errors import runlog_error

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog

__all__ = ["BLOCK", "FINISHED", "LoopCounts"]

#: indices per block: what a view may count again, per run of blocks in flight (a few
#: milliseconds of rows), against how many blocks a loop's kept counts hold (1,000,000
#: items: 977 block numbers)
BLOCK = 1024
#: the statuses an item's row is written with, never to change in that run
FINISHED = frozenset({"succeeded", "failed", "skipped"})
#: loops whose kept counts one reader holds at most (least recently viewed dropped first)
LOOPS = 256


@dataclass
class _Kept:
    """One loop's blocks that can no longer change, and their items by status."""

    blocks: set[int] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)


def _open_ranges(kept: set[int]) -> list[tuple[int, int | None]]:
    """The index ranges [start, stop) outside the kept blocks (the last has no stop)."""
    ranges: list[tuple[int, int | None]] = []
    start = 0
    for block in sorted(kept):
        if block * BLOCK > start:
            ranges.append((start, block * BLOCK))
        start = (block + 1) * BLOCK
    ranges.append((start, None))
    return ranges


class LoopCounts:
    """Running loops' item counts, each view counting only the blocks that can still change;
    safe to share between threads (the service's request threads)."""

    def __init__(self, *, loops: int = LOOPS) -> None:
        self._loops = loops
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
        self._lock = threading.Lock()
        #: rows read by the counts so far (what the tests and the benchmark look at)
        self.rows_read = 0

    def counts(self, log: RunLog, run_id: str, step_id: str) -> dict[str, int]:
        """Loop step `step_id`'s items by status, as the run log holds them now."""
        key = (run_id, step_id)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
            blocks = set(kept.blocks) if kept else set()
            total = Counter(kept.counts) if kept else Counter()
        by_block: dict[int, Counter[str]] = {}
        for start, stop in _open_ranges(blocks):
            for block, status, count in self._count(log, run_id, step_id, start, stop):
                by_block.setdefault(int(block), Counter())[status] += int(count)
        done = {
            block: counted
            for block, counted in by_block.items()
            if counted.total() == BLOCK and FINISHED.issuperset(counted)
        }
        for counted in by_block.values():
            total.update(counted)
        self._keep(key, done, sum(c.total() for c in by_block.values()))
        return {status: n for status, n in sorted(total.items()) if n}

    def forget(self, run_id: str, step_id: str) -> None:
        """Drop a loop's kept counts (a finished loop's summary has them)."""
        with self._lock:
            self._kept.pop((run_id, step_id), None)

    def _keep(self, key: tuple[str, str], done: dict[int, Counter[str]], read: int) -> None:
        with self._lock:
            self.rows_read += read
            if not done:
                return
            kept = self._kept.setdefault(key, _Kept())
            self._kept.move_to_end(key)
            for block, counted in done.items():
                if block not in kept.blocks:  # another thread may have kept it meanwhile
                    kept.blocks.add(block)
                    kept.counts.update(counted)
            while len(self._kept) > self._loops:
                self._kept.popitem(last=False)

    @staticmethod
    def _count(
        log: RunLog, run_id: str, step_id: str, start: int, stop: int | None
    ) -> list[tuple[int, str, int]]:
        # BLOCK is this module's constant, not a parameter: PostgreSQL must see the same
        # expression in GROUP BY as in the select list.
        sql = (
            f"SELECT idx / {BLOCK}, status, count(*) FROM loop_items"
            " WHERE run_id=? AND step_id=? AND idx >= ?"
        )
        args: tuple[object, ...] = (run_id, step_id, start)
        if stop is not None:
            sql += " AND idx < ?"
            args += (stop,)
        try:
            rows = log.store.execute(sql + " GROUP BY 1, 2", args).fetchall()
        except log.store.errors as exc:
            raise runlog_error(exc, log.where, "counting loop items") from None
        return [(int(b), str(s), int(c)) for b, s, c in rows]
