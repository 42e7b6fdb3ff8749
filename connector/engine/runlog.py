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

import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from connector.engine.intents import IntentLog
from connector.engine.loop_items import LoopItems, join_refs, split_refs
from connector.engine.run_records import ItemRecord, RunRecord, StepRecord
from connector.engine.runlog_errors import runlog_error, translated
from connector.engine.runlog_items import ItemLog, ItemPage, StoredItem, _dump, _load
from connector.engine.runlog_migrate import migrate, schema_version
from connector.engine.runlog_store import SqliteStore, Store, open_store, upsert
from connector.errors import AlreadyRetried, InvalidConfiguration
from connector.lazy_array import materialised
from connector.redact import dumps_redacted, mask_json, redact

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
    "loop_output_json",
]

DB_NAME = "runs.db"


def default_home() -> Path:
    return Path(os.environ.get("CONNECTOR_HOME") or Path.home() / ".connector")


def loop_output_json(item_texts: list[str | None], summary: dict[str, Any]) -> str:
    """The JSON of a loop's whole output, `{"items": [...], "summary": {...}}`, from each
    item output's JSON (None for an item with no output), for a caller that writes a loop's
    output whole (`write_step(output_json=...)`); the engine's loop stores a reference to
    its items instead (loop_items.py)."""
    items = ",".join("null" if text is None else text for text in item_texts)
    return mask_json(f'{{"items":[{items}],"summary":{dumps_redacted(summary)}}}')


_STEP_COLUMNS = (
    "run_id", "step_id", "position", "kind", "status", "started_at", "finished_at",
    "definition_json", "inputs_json", "output_json", "error_json", "attempts_json",
    "summary_json", "reused_from",
)  # fmt: skip
_UPSERT_STEP = upsert("steps", _STEP_COLUMNS, ("run_id", "step_id"))
_UPSERT_STEP_REFS = upsert("steps", (*_STEP_COLUMNS, "output_refs_json"), ("run_id", "step_id"))


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class RunLog(ItemLog):
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
        run_id: str | None = None,
    ) -> str:
        """Record a new run; `run_id` is chosen by the caller when given (a Temporal
        workflow's id, so that re-executing the activity finds the run it made)."""
        run_id = run_id or new_run_id()
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

    # --- reading -------------------------------------------------------------------------

    def _run_select(self, trigger: bool = True) -> str:
        """The columns of a RunRecord; a retry's snapshot and payload read from the run of
        its lineage that holds them (without `trigger`, the payload is not read at all)."""
        if not self._refs:
            payload = "r.trigger_json" if trigger else "NULL"
            return (
                f"SELECT r.id, r.workflow_name, r.workflow_json, r.source_path, {payload},"
                " r.status, r.started_at, r.finished_at, r.parent_run_id, r.failed_step,"
                " r.error_json, r.output_json, r.pid, r.host, NULL FROM runs r"
            )
        payload = "coalesce(t.trigger_json, r.trigger_json)" if trigger else "NULL"
        return (
            "SELECT r.id, r.workflow_name, coalesce(w.workflow_json, r.workflow_json),"
            f" r.source_path, {payload}, r.status, r.started_at,"
            " r.finished_at, r.parent_run_id, r.failed_step, r.error_json, r.output_json,"
            " r.pid, r.host, r.output_refs_json FROM runs r"
            " LEFT JOIN runs w ON w.id = r.workflow_from"
            " LEFT JOIN runs t ON t.id = r.trigger_from"
        )

    @translated("reading a run")
    def get_run(
        self, run_id: str, *, trigger_json: bool = False, trigger: bool = True
    ) -> RunRecord:
        """A run's record; with `trigger_json`, its `trigger` is the payload's JSON text as
        stored (masked), not decoded (`runs show --json` copies a big payload through);
        without `trigger`, its `trigger` is None, unread (a view polled while a run of a big
        payload runs)."""
        sql = self._run_select(trigger) + " WHERE r.id=?"
        row = self.store.execute(sql, (run_id,)).fetchone()
        if row is None:
            raise InvalidConfiguration(f"no run with id {run_id!r}", where=self.where)
        if not trigger_json:
            return self._run(row)
        run = self._run((*row[:4], None, *row[5:]))
        run.trigger = mask_json(row[4])
        return run

    @translated("listing runs")
    def list_runs(
        self, *, status: str | None = None, limit: int = 20, trigger: bool = True
    ) -> list[RunRecord]:
        """The newest runs first; without `trigger`, their payloads are not read."""
        sql = self._run_select(trigger)
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
