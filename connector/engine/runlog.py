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
from connector.engine.run_records import ItemRecord, RunRecord, StepRecord
from connector.engine.runlog_errors import runlog_error, translated
from connector.engine.runlog_migrate import migrate
from connector.engine.runlog_store import SqliteStore, Store, open_store, upsert
from connector.errors import AlreadyRetried, InvalidConfiguration
from connector.redact import dumps_redacted, holds_secret, mask_json, redact

__all__ = [
    "DB_NAME",
    "ItemRecord",
    "RunLog",
    "RunRecord",
    "StepRecord",
    "StoredItem",
    "default_home",
    "loop_output_json",
]

DB_NAME = "runs.db"


def default_home() -> Path:
    return Path(os.environ.get("CONNECTOR_HOME") or Path.home() / ".connector")


def _dump(value: Any) -> str | None:
    return None if value is None else dumps_redacted(value)


def loop_output_json(item_texts: list[str | None], summary: dict[str, Any]) -> str:
    """The JSON of a loop's output, `{"items": [...], "summary": {...}}`, built from each
    item output's JSON as `write_item` returned it (None for an item with no output):
    the same text as serialising the whole output again, without doing it."""
    items = ",".join("null" if text is None else text for text in item_texts)
    return mask_json(f'{{"items":[{items}],"summary":{dumps_redacted(summary)}}}')


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_UPSERT_STEP = upsert(
    "steps",
    ("run_id", "step_id", "position", "kind", "status", "started_at", "finished_at",
     "definition_json", "inputs_json", "output_json", "error_json", "attempts_json",
     "summary_json", "reused_from"),
    ("run_id", "step_id"),
)  # fmt: skip


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


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
        self.store: Store = open_store(target, readonly=readonly)
        #: the SQLite file (None for PostgreSQL)
        self.path: Path | None = self.store.path if isinstance(self.store, SqliteStore) else None
        try:
            # A read-only file is read as it is: its missing tables read as empty.
            if not readonly or not (self.path and self.path.exists()):
                migrate(self.store)
            self.store.after_migration()
            self._tables = self.store.table_names()
        except self.store.errors as exc:
            self.store.close()
            raise runlog_error(exc, self.store.where, "opening it") from None
        except BaseException:
            self.store.close()
            raise
        #: the last step output written and its JSON (see finish_run)
        self._recent: tuple[Any, str] | None = None
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
        self.store.close()

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
        run_id: str | None = None,
    ) -> str:
        """Record a new run; `run_id` is chosen by the caller when given (a Temporal
        workflow's id, so that re-executing the activity finds the run it made)."""
        run_id = run_id or new_run_id()
        row = (
            run_id,
            redact(str(workflow.get("name", ""))),
            _dump(workflow),
            source_path,
            _dump(trigger) or "null",
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
        self.store.execute(
            "UPDATE runs SET status=?, finished_at=?, output_json=?, error_json=?, failed_step=?"
            " WHERE id=?",
            (status, finished_at, self._output_text(output), _dump(error), failed_step, run_id),
        )

    def _output_text(self, output: Any) -> str | None:
        recent = self._recent
        if recent is not None and recent[0] is output:
            # Masked again: a secret registered since the step was written is caught too.
            return mask_json(recent[1])
        return _dump(output)

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
        """Record a step. `output_json`, when given, is `output`'s JSON as assembled by
        `loop_output_json` (a loop's output is not serialised a second time)."""
        output_text = _dump(output) if output_json is None else mask_json(output_json)
        # The run's output is often this step's output, the same object: kept for finish_run.
        self._recent = (output, output_text) if output_text is not None else None
        self.store.execute(
            _UPSERT_STEP,
            (
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
            ),
        )

    @translated("recording a loop item")
    def write_item(self, run_id: str, record: ItemRecord) -> str | None:
        """Record one loop item; returns its output's JSON (for `loop_output_json`)."""
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
        """Every item of a loop step, undecoded, in one query."""
        rows = self.store.execute(
            f"SELECT idx, {_ITEM_COLUMNS} FROM loop_items WHERE run_id=? AND step_id=?"
            " ORDER BY idx",
            (run_id, step_id),
        )
        return [StoredItem(r[0], r[1], r[2], r[4], tuple(r[1:])) for r in rows]

    @translated("reading a run")
    def get_run(self, run_id: str) -> RunRecord:
        row = self.store.execute(
            "SELECT id, workflow_name, workflow_json, source_path, trigger_json, status,"
            " started_at, finished_at, parent_run_id, failed_step, error_json, output_json,"
            " pid, host FROM runs WHERE id=?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise InvalidConfiguration(f"no run with id {run_id!r}", where=self.where)
        return self._run(row)

    @translated("listing runs")
    def list_runs(self, *, status: str | None = None, limit: int = 20) -> list[RunRecord]:
        sql = (
            "SELECT id, workflow_name, workflow_json, source_path, trigger_json, status,"
            " started_at, finished_at, parent_run_id, failed_step, error_json, output_json,"
            " pid, host FROM runs"
        )
        args: tuple[Any, ...] = ()
        if status and status != "interrupted":
            sql += " WHERE status=?"
            args = (status,)
        elif status == "interrupted":
            sql += " WHERE status='running'"
        sql += f" ORDER BY started_at DESC, {self.store.insertion_order} DESC LIMIT ?"
        runs = [self._run(row) for row in self.store.execute(sql, (*args, limit))]
        if status == "interrupted":
            runs = [r for r in runs if r.interrupted]
        return runs

    @staticmethod
    def _run(row: tuple[Any, ...]) -> RunRecord:
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
            output=_load(row[11]),
            pid=row[12],
            host=row[13],
        )

    @translated("reading a run's steps")
    def steps(self, run_id: str, *, outputs: bool = True) -> list[StepRecord]:
        """The run's steps in order; with `outputs=False` their outputs are left None
        (a loop's output holds every item: see `step_output`)."""
        output_column = "output_json" if outputs else "NULL"
        rows = self.store.execute(
            "SELECT run_id, step_id, position, kind, status, started_at, finished_at,"
            f" definition_json, inputs_json, {output_column}, error_json, attempts_json,"
            " summary_json, reused_from FROM steps WHERE run_id=? ORDER BY position",
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
                output=_load(r[9]),
                error=_load(r[10]),
                attempts=_load(r[11]) or [],
                summary=_load(r[12]),
                reused_from=r[13],
            )
            for r in rows
        ]

    @translated("reading a step's output")
    def step_output(self, run_id: str, step_id: str) -> Any:
        row = self.store.execute(
            "SELECT output_json FROM steps WHERE run_id=? AND step_id=?", (run_id, step_id)
        ).fetchone()
        return None if row is None else _load(row[0])

    def items(
        self, run_id: str, step_id: str, *, status: str | None = None
    ) -> Iterator[ItemRecord]:
        sql = (
            "SELECT step_id, idx, status, item_json, inputs_json, output_json, error_json,"
            " attempts_json, started_at, finished_at, reused_from FROM loop_items"
            " WHERE run_id=? AND step_id=?"
        )
        args: tuple[Any, ...] = (run_id, step_id)
        if status:
            sql += " AND status=?"
            args = (*args, status)
        try:
            rows = self.store.execute(sql + " ORDER BY idx", args)
            for r in rows:
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
        except self.store.errors as exc:
            raise runlog_error(exc, self.where, "reading loop items") from None

    @translated("counting loop items")
    def item_counts(self, run_id: str, step_id: str) -> dict[str, int]:
        rows = self.store.execute(
            "SELECT status, count(*) FROM loop_items WHERE run_id=? AND step_id=? GROUP BY status",
            (run_id, step_id),
        )
        return {status: count for status, count in rows}
