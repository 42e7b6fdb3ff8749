"""The durable run log: every run, step, loop item and attempt, in SQLite (WAL) or in a
shared PostgreSQL database (`CONNECTOR_RUNLOG=postgresql://...`): one SQL for both, each
backend's differences in `runlog_store.py`, schema versions migrated on open.

Rows are written as each step or item finishes, each in its own short transaction, so a
crash (even `kill -9`) loses at most the items in flight; writes of non-idempotent actions
are recorded as intents before they are sent (`intents.py`). Every value passes through
`connector.redact` here, the one place anything reaches the file. A run is retried into
at most one child (`retries`, claimed atomically with the child's row). Every driver
failure leaves as a one-line `RunLogError` naming the log (`runlog_errors.py`); a log
opened `readonly` is never written, so a read-only file can still be listed and shown.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.engine.intents import IntentLog
from connector.engine.loop_items import LoopItems, join_refs, split_refs
from connector.engine.run_records import ItemRecord, RunRecord, StepRecord
from connector.engine.runlog_errors import runlog_error, translated
from connector.engine.runlog_migrate import migrate, schema_version
from connector.engine.runlog_store import SqliteStore, Store, open_store, upsert
from connector.errors import AlreadyRetried, InvalidConfiguration, InvalidInput
from connector.lazy_array import MAX_PAGE, PAGE, materialised
from connector.redact import dumps_redacted, holds_secret, mask_json, redact

__all__ = [
    "DB_NAME",
    "ItemPage",
    "ItemRecord",
    "LoopItems",
    "RunLog",
    "RunRecord",
    "StepRecord",
    "StoredItem",
    "default_home",
]

DB_NAME = "runs.db"


def default_home() -> Path:
    return Path(os.environ.get("CONNECTOR_HOME") or Path.home() / ".connector")


def _dump(value: Any) -> str | None:
    return None if value is None else dumps_redacted(value)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_STEP_COLUMNS = (
    "run_id", "step_id", "position", "kind", "status", "started_at", "finished_at",
    "definition_json", "inputs_json", "output_json", "error_json", "attempts_json",
    "summary_json", "reused_from",
)  # fmt: skip
_UPSERT_STEP = upsert("steps", _STEP_COLUMNS, ("run_id", "step_id"))
_UPSERT_STEP_REFS = upsert("steps", (*_STEP_COLUMNS, "output_refs_json"), ("run_id", "step_id"))


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


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


_ITEM_NAMES = (
    "status", "item_json", "inputs_json", "output_json", "error_json", "attempts_json",
    "started_at", "finished_at", "reused_from",
)  # fmt: skip
_ITEM_COLUMNS = ", ".join(_ITEM_NAMES)
#: the columns of _ITEM_COLUMNS holding JSON text (masked again when copied)
_ITEM_JSON = range(1, 6)
_ITEM_KEY = ("run_id", "step_id", "idx")
_UPSERT_ITEM = upsert("loop_items", (*_ITEM_KEY, *_ITEM_NAMES), _ITEM_KEY)


class RunLog:
    """One run log: a SQLite file (safe to open from several processes: WAL, busy timeout)
    or a PostgreSQL database named by a `postgresql://` URL (`runlog_store.py`)."""

    def __init__(self, target: Path | str, *, readonly: bool = False) -> None:
        self.readonly = readonly
        self.target = target
        self.closed = False
        #: a read-only log on `target`, for lazy outputs read after this one was closed
        self._reopened: RunLog | None = None
        self.store: Store = open_store(target, readonly=readonly)
        #: the SQLite file (None for PostgreSQL)
        self.path: Path | None = self.store.path if isinstance(self.store, SqliteStore) else None
        try:
            # A read-only file is read as it is: its missing tables read as empty.
            if not readonly or not (self.path and self.path.exists()):
                migrate(self.store)
            self.store.after_migration()
            self._tables = self.store.table_names()
            #: version 3 columns present (a read-only log of an older release has none)
            self._refs = schema_version(self.store) >= 3
        except self.store.errors as exc:
            self.store.close()
            raise runlog_error(exc, self.store.where, "opening it") from None
        except BaseException:
            self.store.close()
            raise
        #: the last step output written, its JSON and its references' (see finish_run)
        self._recent: tuple[Any, str, str | None] | None = None
        self.intents = IntentLog(self)

    @property
    def where(self) -> str:
        """How errors name the log: its path, or its URL without the password."""
        return self.store.where

    @property
    def db(self) -> Any:
        """The driver's connection (tests and diagnostics only)."""
        return self.store.raw

    def has_table(self, name: str) -> bool:
        return name in self._tables

    @classmethod
    def in_home(cls, home: Path | str | None = None, *, readonly: bool = False) -> RunLog:
        return cls((Path(home) if home else default_home()) / DB_NAME, readonly=readonly)

    def close(self) -> None:
        self.closed = True
        self.store.close()
        if self._reopened is not None:
            self._reopened.close()
            self._reopened = None

    def _reader(self) -> RunLog:
        """This log, or once it is closed, a read-only one on the same target: a run's
        result may hold a loop's lazy items after its session ended."""
        if not self.closed:
            return self
        if self._reopened is None:
            self._reopened = RunLog(self.target, readonly=True)
        return self._reopened

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------

    @translated("recording a new run")
    def create_run(
        self,
        *,
        workflow: dict[str, Any],
        trigger: Any,
        source_path: str | None,
        parent_run_id: str | None,
        started_at: float,
    ) -> str:
        run_id = new_run_id()
        workflow_text = _dump(workflow) or "null"
        trigger_text = _dump(trigger) or "null"
        workflow_from = trigger_from = None
        if parent_run_id is not None and self._refs:
            # Stored once per lineage: a retry with the same snapshot or payload names the
            # run that holds it (compared in the database: the texts are not read back).
            workflow_from, trigger_from = self._held_by(parent_run_id, workflow_text, trigger_text)
        row: tuple[Any, ...] = (
            run_id,
            redact(str(workflow.get("name", ""))),
            "" if workflow_from else workflow_text,
            source_path,
            "" if trigger_from else trigger_text,
            started_at,
            parent_run_id,
            os.getpid(),
            socket.gethostname(),
        )
        insert = (
            "INSERT INTO runs (id, workflow_name, workflow_json, source_path, trigger_json,"
            " status, started_at, parent_run_id, pid, host)"
            " VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)"
        )
        if self._refs:
            insert = (
                "INSERT INTO runs (id, workflow_name, workflow_json, source_path, trigger_json,"
                " status, started_at, parent_run_id, pid, host, workflow_from, trigger_from)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)"
            )
            row = (*row, workflow_from, trigger_from)
        if parent_run_id is None:
            self.store.execute(insert, row)
            return run_id
        # The claim and the child's row commit together, under the write lock: of two
        # retries of one run, exactly one creates a child; the other finds it.
        with self.store.transaction(exclusive=True):
            child = self._child_of(parent_run_id)
            if child is not None:
                raise AlreadyRetried(
                    f"run {parent_run_id} was already retried as run {child}; a run is retried "
                    f"once: follow that retry with `connector runs retry {parent_run_id} "
                    f"--follow`, or retry run {child} to continue",
                    child_run_id=child,
                )
            self.store.execute(insert, row)
            self.store.execute(
                "INSERT INTO retries (parent_run_id, child_run_id, created_at) VALUES (?, ?, ?)",
                (parent_run_id, run_id, started_at),
            )
        return run_id

    def _held_by(
        self, parent_run_id: str, workflow_text: str, trigger_text: str
    ) -> tuple[str | None, str | None]:
        """The runs holding `parent_run_id`'s snapshot and payload, each when its text is
        `workflow_text` / `trigger_text` (else None: the retry stores its own)."""
        row = self.store.execute(
            "SELECT coalesce(r.workflow_from, r.id), coalesce(w.workflow_json, r.workflow_json)"
            " = ?, coalesce(r.trigger_from, r.id), coalesce(t.trigger_json, r.trigger_json) = ?"
            " FROM runs r LEFT JOIN runs w ON w.id = r.workflow_from"
            " LEFT JOIN runs t ON t.id = r.trigger_from WHERE r.id = ?",
            (workflow_text, trigger_text, parent_run_id),
        ).fetchone()
        if row is None:
            return None, None
        return (row[0] if row[1] else None), (row[2] if row[3] else None)

    def _child_of(self, run_id: str) -> str | None:
        if self.has_table("retries"):
            row = self.store.execute(
                "SELECT child_run_id FROM retries WHERE parent_run_id=?", (run_id,)
            ).fetchone()
            if row is not None:
                return str(row[0])
        # Logs written before retries were claimed: the first child run recorded.
        row = self.store.execute(
            "SELECT id FROM runs WHERE parent_run_id=? ORDER BY started_at,"
            f" {self.store.insertion_order} LIMIT 1",
            (run_id,),
        ).fetchone()
        return None if row is None else str(row[0])

    @translated("reading a run's retry")
    def child_of(self, run_id: str) -> str | None:
        """The run that retried `run_id`, if any."""
        return self._child_of(run_id)

    @translated("reading a run's lineage")
    def lineage_of(self, run_id: str) -> str:
        """The first run of `run_id`'s retry chain (itself when it retried nothing)."""
        row = self.store.execute(
            "WITH RECURSIVE up(id, parent, depth) AS ("
            " SELECT id, parent_run_id, 0 FROM runs WHERE id=?"
            " UNION ALL SELECT r.id, r.parent_run_id, up.depth + 1 FROM runs r"
            " JOIN up ON r.id = up.parent WHERE up.depth < 100000)"
            " SELECT id FROM up ORDER BY depth DESC LIMIT 1",
            (run_id,),
        ).fetchone()
        return run_id if row is None else str(row[0])

    @translated("recording the end of a run")
    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        finished_at: float,
        output: Any = None,
        error: dict[str, Any] | None = None,
        failed_step: str | None = None,
    ) -> None:
        text, refs = self._output_text(output)
        if self._refs:
            self.store.execute(
                "UPDATE runs SET status=?, finished_at=?, output_json=?, error_json=?,"
                " failed_step=?, output_refs_json=? WHERE id=?",
                (status, finished_at, text, _dump(error), failed_step, refs, run_id),
            )
            return
        self.store.execute(
            "UPDATE runs SET status=?, finished_at=?, output_json=?, error_json=?, failed_step=?"
            " WHERE id=?",
            (status, finished_at, text, _dump(error), failed_step, run_id),
        )

    def _output_text(self, output: Any) -> tuple[str | None, str | None]:
        """An output's JSON and its references' (a loop's items stay in their rows)."""
        recent = self._recent
        if recent is not None and recent[0] is output:
            # Masked again: a secret registered since the step was written is caught too.
            return mask_json(recent[1]), recent[2]
        plain, refs = split_refs(output)
        if refs is not None and not self._refs:  # a log too old to hold references
            return _dump(output if plain is output else materialised(output)), None
        return _dump(plain), _dump(refs)

    @translated("recording a step")
    def write_step(
        self,
        run_id: str,
        step_id: str,
        *,
        position: int,
        kind: str,
        status: str,
        definition: dict[str, Any],
        started_at: float | None = None,
        finished_at: float | None = None,
        inputs: Any = None,
        output: Any = None,
        error: dict[str, Any] | None = None,
        attempts: list[dict[str, Any]] | None = None,
        summary: dict[str, Any] | None = None,
        reused_from: str | None = None,
        output_json: str | None = None,
    ) -> None:
        """Record a step. `output_json`, when given, is `output`'s JSON already made; a
        loop's items in `output` (LoopItems) are stored as a reference to their rows
        (loop_items.py), not again."""
        refs: str | None = None
        if output_json is None:
            output_text, refs = self._output_text(output)
        else:
            output_text = mask_json(output_json)
        # The run's output is often this step's output, the same object: kept for finish_run.
        self._recent = (output, output_text, refs) if output_text is not None else None
        values = (
                run_id,
                step_id,
                position,
                kind,
                status,
                started_at,
                finished_at,
                _dump(definition),
                _dump(inputs),
                output_text,
                _dump(error),
                _dump(attempts or []),
                _dump(summary),
                reused_from,
        )  # fmt: skip
        if self._refs:
            self.store.execute(_UPSERT_STEP_REFS, (*values, refs))
        else:
            self.store.execute(_UPSERT_STEP, values)

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

    # --- reading -------------------------------------------------------------------------

    @translated("reading a loop's items")
    def stored_items(self, run_id: str, step_id: str) -> list[StoredItem]:
        """Every item of a loop step, undecoded (a few: see `stored_item_pages`)."""
        return [item for page in self.stored_item_pages(run_id, step_id) for item in page]

    def _run_select(self) -> str:
        """The columns of a RunRecord; a retry's snapshot and payload read from the run of
        its lineage that holds them."""
        if not self._refs:
            return (
                "SELECT r.id, r.workflow_name, r.workflow_json, r.source_path, r.trigger_json,"
                " r.status, r.started_at, r.finished_at, r.parent_run_id, r.failed_step,"
                " r.error_json, r.output_json, r.pid, r.host, NULL FROM runs r"
            )
        return (
            "SELECT r.id, r.workflow_name, coalesce(w.workflow_json, r.workflow_json),"
            " r.source_path, coalesce(t.trigger_json, r.trigger_json), r.status, r.started_at,"
            " r.finished_at, r.parent_run_id, r.failed_step, r.error_json, r.output_json,"
            " r.pid, r.host, r.output_refs_json FROM runs r"
            " LEFT JOIN runs w ON w.id = r.workflow_from"
            " LEFT JOIN runs t ON t.id = r.trigger_from"
        )

    @translated("reading a run")
    def get_run(self, run_id: str) -> RunRecord:
        row = self.store.execute(self._run_select() + " WHERE r.id=?", (run_id,)).fetchone()
        if row is None:
            raise InvalidConfiguration(f"no run with id {run_id!r}", where=self.where)
        return self._run(row)

    @translated("listing runs")
    def list_runs(self, *, status: str | None = None, limit: int = 20) -> list[RunRecord]:
        sql = self._run_select()
        args: tuple[Any, ...] = ()
        if status and status != "interrupted":
            sql += " WHERE r.status=?"
            args = (status,)
        elif status == "interrupted":
            sql += " WHERE r.status='running'"
        order = f"r.{self.store.insertion_order}"
        sql += f" ORDER BY r.started_at DESC, {order} DESC LIMIT ?"
        runs = [self._run(row) for row in self.store.execute(sql, (*args, limit))]
        if status == "interrupted":
            runs = [r for r in runs if r.interrupted]
        return runs

    def _run(self, row: tuple[Any, ...]) -> RunRecord:
        return RunRecord(
            id=row[0],
            workflow_name=row[1],
            workflow=_load(row[2]),
            source_path=row[3],
            trigger=_load(row[4]),
            status=row[5],
            started_at=row[6],
            finished_at=row[7],
            parent_run_id=row[8],
            failed_step=row[9],
            error=_load(row[10]),
            output=join_refs(_load(row[11]), _load(row[14]), self, row[0]),
            pid=row[12],
            host=row[13],
        )

    @translated("reading a run's steps")
    def steps(self, run_id: str, *, outputs: bool = True) -> list[StepRecord]:
        """The run's steps in order; with `outputs=False` their outputs are left None
        (a loop's output holds every item: see `step_output`)."""
        output_column = "output_json" if outputs else "NULL"
        refs_column = "output_refs_json" if outputs and self._refs else "NULL"
        rows = self.store.execute(
            "SELECT run_id, step_id, position, kind, status, started_at, finished_at,"
            f" definition_json, inputs_json, {output_column}, error_json, attempts_json,"
            f" summary_json, reused_from, {refs_column} FROM steps WHERE run_id=?"
            " ORDER BY position",
            (run_id,),
        )
        return [
            StepRecord(
                run_id=r[0],
                step_id=r[1],
                position=r[2],
                kind=r[3],
                status=r[4],
                started_at=r[5],
                finished_at=r[6],
                definition=_load(r[7]),
                inputs=_load(r[8]),
                output=join_refs(_load(r[9]), _load(r[14]), self, run_id),
                error=_load(r[10]),
                attempts=_load(r[11]) or [],
                summary=_load(r[12]),
                reused_from=r[13],
            )
            for r in rows
        ]

    @translated("reading a step's output")
    def step_output(self, run_id: str, step_id: str) -> Any:
        refs = "output_refs_json" if self._refs else "NULL"
        row = self.store.execute(
            f"SELECT output_json, {refs} FROM steps WHERE run_id=? AND step_id=?",
            (run_id, step_id),
        ).fetchone()
        return None if row is None else join_refs(_load(row[0]), _load(row[1]), self, run_id)

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
        for r in self.item_rows(run_id, step_id, status=status, after=after, limit=limit):
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

    def item_rows(
        self,
        run_id: str,
        step_id: str,
        *,
        status: str | None = None,
        after: int = -1,
        limit: int | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """`items` as stored rows, their JSON undecoded (for `runs show --json`):
        (step_id, idx, status, item_json, inputs_json, output_json, error_json,
        attempts_json, started_at, finished_at, reused_from)."""
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
                size = PAGE if left is None else min(PAGE, left)
                args = (run_id, step_id, after, *((status,) if status else ()), size)
                rows = self.store.execute(sql, args).fetchall()
                yield from rows
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
