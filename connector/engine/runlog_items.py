"""A run log's loop items: written as they finish, copied into a retry, and read back a
page at a time (a keyset query per page: `idx > ? ORDER BY idx LIMIT n`, so nothing is
held but one page, and no cursor stays open while the same connection writes; psycopg's
default cursor would fetch a whole result at once). `RunLog` (runlog.py) is built on it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.engine.run_records import ItemRecord
from connector.engine.runlog_errors import runlog_error, translated
from connector.engine.runlog_store import Store, upsert
from connector.errors import InvalidInput
from connector.lazy_array import MAX_PAGE, PAGE
from connector.redact import dumps_redacted, holds_secret, mask_json

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog

__all__ = ["ItemLog", "ItemPage", "StoredItem"]


def _dump(value: Any) -> str | None:
    """A value's JSON for the run log (masked), None for None (runlog.py uses it too)."""
    return None if value is None else dumps_redacted(value)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass
class ItemPage:
    """A page of a loop's items; `next_cursor` reads the next page (None: the last)."""

    items: list[ItemRecord]
    next_cursor: int | None


@dataclass
class StoredItem:
    """A loop item's row as stored, its JSON texts undecoded: a retry compares and copies
    thousands of reused items, and decodes only the outputs it hands on."""

    index: int
    status: str
    item_json: str | None
    output_json: str | None
    #: every column after (run_id, step_id, idx), as stored
    row: tuple[Any, ...]

    @property
    def output(self) -> Any:
        return _load(self.output_json)

    @property
    def reused_from(self) -> str | None:
        reused: str | None = self.row[-1]
        return reused

    @property
    def error(self) -> dict[str, Any] | None:
        error: dict[str, Any] | None = _load(self.row[4])
        return error


_ITEM_NAMES = (
    "status", "item_json", "inputs_json", "output_json", "error_json", "attempts_json",
    "started_at", "finished_at", "reused_from",
)  # fmt: skip
_ITEM_COLUMNS = ", ".join(_ITEM_NAMES)
#: the columns of _ITEM_COLUMNS holding JSON text (masked again when copied)
_ITEM_JSON = range(1, 6)
_ITEM_KEY = ("run_id", "step_id", "idx")
_UPSERT_ITEM = upsert("loop_items", (*_ITEM_KEY, *_ITEM_NAMES), _ITEM_KEY)


class ItemLog:
    """The loop-item half of a run log: needs `store`, `where` and `_reader()`."""

    store: Store

    @property
    def where(self) -> str:
        raise NotImplementedError

    def _reader(self) -> RunLog:
        raise NotImplementedError

    @translated("recording a loop item")
    def write_item(self, run_id: str, record: ItemRecord) -> str | None:
        """Record one loop item; returns its output's JSON."""
        output_text = _dump(record.output)
        self.store.execute(
            _UPSERT_ITEM,
            (
                run_id,
                record.step_id,
                record.index,
                record.status,
                _dump(record.item),
                _dump(record.inputs),
                output_text,
                _dump(record.error),
                _dump(record.attempts),
                record.started_at,
                record.finished_at,
                record.reused_from,
            ),
        )
        return output_text

    @translated("recording loop items")
    def write_items(self, run_id: str, records: list[ItemRecord]) -> list[str | None]:
        """Many items in one transaction (for copying reused items into a retry run);
        returns their outputs' JSON."""
        with self.store.transaction():
            return [self.write_item(run_id, record) for record in records]

    @translated("copying reused loop items")
    def copy_items(
        self, run_id: str, step_id: str, items: list[StoredItem], parent_run_id: str
    ) -> list[str | None]:
        """Copy `items`, read from `parent_run_id`'s step `step_id`, into `run_id` in one
        transaction, their JSON as stored (masked again if a secret registered since is in
        it), each marked reused (from the run it first came from); returns their outputs'
        JSON."""
        # "\0" never occurs in JSON text, so no secret straddles two texts.
        every = "\0".join(v for item in items for v in item.row if isinstance(v, str))
        if not holds_secret(every):
            return self._copy_rows(run_id, step_id, items, parent_run_id)
        rows = []
        texts: list[str | None] = []
        for item in items:
            row = [mask_json(v) if i in _ITEM_JSON and v is not None else v
                   for i, v in enumerate(item.row)]  # fmt: skip
            row[-1] = row[-1] or parent_run_id
            rows.append((run_id, step_id, item.index, *row))
            texts.append(row[3])
        with self.store.transaction():
            self.store.executemany(_UPSERT_ITEM, rows)
        return texts

    def _copy_rows(
        self, run_id: str, step_id: str, items: list[StoredItem], parent_run_id: str
    ) -> list[str | None]:
        """The rows copied by the database itself: nothing to mask, so no text passes
        through Python again."""
        source = (
            "SELECT ?, step_id, idx, status, item_json, inputs_json, output_json,"
            " error_json, attempts_json, started_at, finished_at, coalesce(reused_from, ?)"
            " FROM loop_items WHERE run_id=? AND step_id=?"
            f" AND idx IN ({self.store.int_list})"
        )
        with self.store.transaction():
            self.store.execute(
                upsert("loop_items", (*_ITEM_KEY, *_ITEM_NAMES), _ITEM_KEY, source),
                (run_id, parent_run_id, parent_run_id, step_id,
                 json.dumps([item.index for item in items])),
            )  # fmt: skip
        return [item.output_json for item in items]

    @translated("reading a loop's items")
    def stored_items(self, run_id: str, step_id: str) -> list[StoredItem]:
        """Every item of a loop step, undecoded (a few: see `stored_item_pages`)."""
        return [item for page in self.stored_item_pages(run_id, step_id) for item in page]

    @translated("reading a loop's item outputs")
    def item_outputs(self, run_id: str, step_id: str, start: int, stop: int) -> list[Any]:
        """The outputs of items `start` to `stop` of a loop step (None for an item that did
        not succeed): what `LoopItems` reads, a page at a time."""
        return [_load(t) for t in self.item_output_texts(run_id, step_id, start, stop)]

    @translated("reading a loop's item outputs")
    def item_output_texts(
        self, run_id: str, step_id: str, start: int, stop: int
    ) -> list[str | None]:
        """`item_outputs` as their JSON texts, masked."""
        rows = (
            self._reader()
            .store.execute(
                "SELECT idx, output_json FROM loop_items WHERE run_id=? AND step_id=?"
                " AND idx >= ? AND idx < ? AND status='succeeded' ORDER BY idx",
                (run_id, step_id, start, stop),
            )
            .fetchall()
        )
        texts: list[str | None] = [None] * (stop - start)
        for idx, text in rows:
            texts[idx - start] = text
        if rows and holds_secret("\0".join(t for _, t in rows if t)):
            texts = [None if t is None else mask_json(t) for t in texts]
        return texts

    def stored_item_pages(
        self, run_id: str, step_id: str, *, page: int = PAGE
    ) -> Iterator[list[StoredItem]]:
        """Every item of a loop step, undecoded, a page at a time in index order (one
        keyset query per page, so nothing stays open between pages while the caller
        writes): the memory held is one page's, however many items the loop had."""
        after = -1
        while True:
            try:
                rows = self.store.execute(
                    f"SELECT idx, {_ITEM_COLUMNS} FROM loop_items WHERE run_id=?"
                    " AND step_id=? AND idx > ? ORDER BY idx LIMIT ?",
                    (run_id, step_id, after, page),
                ).fetchall()
            except self.store.errors as exc:
                raise runlog_error(exc, self.where, "reading a loop's items") from None
            if rows:
                yield [StoredItem(r[0], r[1], r[2], r[4], tuple(r[1:])) for r in rows]
            if len(rows) < page:
                return
            after = rows[-1][0]

    def copy_step_items(self, run_id: str, step_id: str, parent_run_id: str) -> int:
        """Copy every item of `parent_run_id`'s loop step into `run_id`, a page per
        transaction (a whole loop reused by a retry); returns how many."""
        copied = 0
        for page in self.stored_item_pages(parent_run_id, step_id):
            self.copy_items(run_id, step_id, page, parent_run_id)
            copied += len(page)
        return copied

    def items(
        self,
        run_id: str,
        step_id: str,
        *,
        status: str | None = None,
        after: int = -1,
        limit: int | None = None,
    ) -> Iterator[ItemRecord]:
        """A loop step's items in index order, from the first after index `after`, at
        most `limit` (all when None); read a page at a time, never all at once."""
        pages = self.item_row_pages(run_id, step_id, status=status, after=after, limit=limit)
        for r in itertools.chain.from_iterable(pages):
            yield ItemRecord(
                step_id=r[0],
                index=r[1],
                status=r[2],
                item=_load(r[3]),
                inputs=_load(r[4]),
                output=_load(r[5]),
                error=_load(r[6]),
                attempts=_load(r[7]) or [],
                started_at=r[8],
                finished_at=r[9],
                reused_from=r[10],
            )

    def item_page(
        self,
        run_id: str,
        step_id: str,
        *,
        cursor: int | None = None,
        limit: int = 100,
        status: str | None = None,
    ) -> ItemPage:
        """One page of a loop step's items: at most `limit` (1..MAX_PAGE) after `cursor`
        (the `next_cursor` of the page before; None for the first)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(
                f"limit must be a whole number from 1 to {MAX_PAGE:,}", where="limit"
            )
        if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, int)):
            raise InvalidInput(
                "cursor must be a page's next_cursor (a whole number)", where="cursor"
            )
        after = -1 if cursor is None else cursor
        found = list(self.items(run_id, step_id, status=status, after=after, limit=limit + 1))
        more = len(found) > limit
        page = found[:limit]
        return ItemPage(page, page[-1].index if more and page else None)

    def item_row_pages(
        self,
        run_id: str,
        step_id: str,
        *,
        status: str | None = None,
        after: int = -1,
        limit: int | None = None,
        page: int = PAGE,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """`items` as stored rows, their JSON undecoded, a page (of up to `page` rows) at a
        time, one keyset query each (`runs show --json` writes a page at once): (step_id,
        idx, status, item_json, inputs_json, output_json, error_json, attempts_json,
        started_at, finished_at, reused_from)."""
        sql = (
            "SELECT step_id, idx, status, item_json, inputs_json, output_json, error_json,"
            " attempts_json, started_at, finished_at, reused_from FROM loop_items"
            " WHERE run_id=? AND step_id=? AND idx > ?"
        )
        if status:
            sql += " AND status=?"
        sql += " ORDER BY idx LIMIT ?"
        left = limit
        try:
            while left is None or left > 0:
                size = page if left is None else min(page, left)
                args = (run_id, step_id, after, *((status,) if status else ()), size)
                rows = self.store.execute(sql, args).fetchall()
                if rows:
                    yield rows
                if len(rows) < size:
                    return
                after = rows[-1][1]
                left = None if left is None else left - len(rows)
        except self.store.errors as exc:
            raise runlog_error(exc, self.where, "reading loop items") from None

    @translated("counting loop items")
    def item_counts(self, run_id: str, step_id: str) -> dict[str, int]:
        rows = self.store.execute(
            "SELECT status, count(*) FROM loop_items WHERE run_id=? AND step_id=? GROUP BY status",
            (run_id, step_id),
        )
        return {status: count for status, count in rows}
