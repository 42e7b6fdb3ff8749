"""Write intents in the run log: what is about to be sent, recorded before it leaves.

One row per intended write of a retry lineage (`WriteTarget` + the inputs' fingerprint).
`record` commits it durably (synchronous=FULL: it survives a power cut, not only a killed
process) before the request is sent; `finish` records the outcome. A row still `pending`
(the process died in between) or `unknown` (the answer was lost and could not be checked)
is an open write: the next run of the lineage checks it before sending anything.

States: pending, applied, not_applied, unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.engine.attempts import error_dict
from connector.engine.runlog_errors import translated
from connector.redact import dumps_redacted

if TYPE_CHECKING:
    from pathlib import Path

    from connector.engine.runlog import RunLog
    from connector.engine.writes import WriteTarget

__all__ = ["INTENTS_SCHEMA", "IntentLog", "IntentRecord"]

INTENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    lineage TEXT NOT NULL,
    step_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    sub_step TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    action_id TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    keys_json TEXT,
    state TEXT NOT NULL,
    run_id TEXT NOT NULL,
    output_json TEXT,
    error_json TEXT,
    resolved_by TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (lineage, step_id, idx, sub_step, fingerprint)
);
"""

_COLUMNS = (
    "lineage, step_id, idx, sub_step, fingerprint, action_id, inputs_json, keys_json, state,"
    " run_id, output_json, error_json, resolved_by, created_at, updated_at"
)
_KEY = "lineage=? AND step_id=? AND idx=? AND sub_step=? AND fingerprint=?"
OPEN_STATES = ("pending", "unknown")


@dataclass
class IntentRecord:
    lineage: str
    step_id: str
    index: int
    sub_step: str
    fingerprint: str
    action_id: str
    inputs: Any
    #: the client keys the engine chose (a slug, or one per array item), else None
    keys: Any
    state: str
    run_id: str
    output: Any
    error: dict[str, Any] | None
    resolved_by: str | None
    created_at: float
    updated_at: float

    @property
    def label(self) -> str:
        label = self.step_id if self.index < 0 else f"{self.step_id}[{self.index}]"
        return label + (f".{self.sub_step}" if self.sub_step else "")

    @property
    def item_label(self) -> str:
        return self.step_id if self.index < 0 else f"{self.step_id}[{self.index}]"


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _record(row: tuple[Any, ...]) -> IntentRecord:
    return IntentRecord(
        row[0], row[1], row[2], row[3], row[4], row[5], _load(row[6]), _load(row[7]),
        row[8], row[9], _load(row[10]), _load(row[11]), row[12], row[13], row[14],
    )  # fmt: skip


class IntentLog:
    """The intents table of one RunLog (same connection, same file)."""

    def __init__(self, runlog: RunLog) -> None:
        self._log = runlog

    @property
    def path(self) -> Path:
        return self._log.path

    def _key(self, target: WriteTarget, fp: str) -> tuple[Any, ...]:
        return (target.lineage, target.step_id, target.index, target.sub_step, fp)

    @translated("reading a write intent")
    def get(self, target: WriteTarget, fp: str) -> IntentRecord | None:
        if not self._log.has_table("intents"):
            return None
        row = self._log.db.execute(
            f"SELECT {_COLUMNS} FROM intents WHERE {_KEY}", self._key(target, fp)
        ).fetchone()
        return None if row is None else _record(row)

    @translated("recording a write intent before sending it")
    def record(
        self,
        target: WriteTarget,
        fp: str,
        action_id: str,
        inputs: Any,
        keys: Any,
        *,
        at: float,
    ) -> None:
        """The write is about to be sent: committed, and synced to disk, before it is."""
        db = self._log.db
        db.execute("PRAGMA synchronous=FULL")
        try:
            db.execute(
                f"INSERT INTO intents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?,"
                " NULL, NULL, NULL, ?, ?) ON CONFLICT (lineage, step_id, idx, sub_step,"
                " fingerprint) DO UPDATE SET inputs_json=excluded.inputs_json,"
                " keys_json=excluded.keys_json, state='pending', run_id=excluded.run_id,"
                " updated_at=excluded.updated_at",
                (
                    *self._key(target, fp),
                    action_id,
                    dumps_redacted(inputs),
                    None if keys is None else json.dumps(keys),
                    target.run_id,
                    at,
                    at,
                ),
            )
        finally:
            db.execute("PRAGMA synchronous=NORMAL")

    @translated("recording the outcome of a write")
    def finish(
        self,
        target: WriteTarget,
        fp: str,
        state: str,
        *,
        output: Any,
        error: BaseException | None,
        at: float,
    ) -> None:
        self._log.db.execute(
            f"UPDATE intents SET state=?, output_json=?, error_json=?, run_id=?, updated_at=?,"
            f" resolved_by=NULL WHERE {_KEY}",
            (
                state,
                None if output is None else dumps_redacted(output),
                None if error is None else dumps_redacted(error_dict(error)),
                target.run_id,
                at,
                *self._key(target, fp),
            ),
        )

    @translated("recording how a write was resolved")
    def resolve(self, target: WriteTarget, fp: str, state: str, *, run_id: str, at: float) -> None:
        """An open write settled without sending: by the user (`--resolve`), or marked
        unknown again by a run that could not check it."""
        by = "user" if target.resolution is not None else None
        self._log.db.execute(
            f"UPDATE intents SET state=?, run_id=?, updated_at=?, resolved_by=? WHERE {_KEY}",
            (state, run_id, at, by, *self._key(target, fp)),
        )

    @translated("reading write intents")
    def of_lineage(self, lineage: str, *, states: tuple[str, ...] = ()) -> list[IntentRecord]:
        if not self._log.has_table("intents"):
            return []
        sql = f"SELECT {_COLUMNS} FROM intents WHERE lineage=?"
        args: tuple[Any, ...] = (lineage,)
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args = (*args, *states)
        rows = self._log.db.execute(sql + " ORDER BY step_id, idx, sub_step", args).fetchall()
        return [_record(row) for row in rows]

    def open_in(self, lineage: str) -> list[IntentRecord]:
        """Writes of the lineage whose outcome nobody knows yet."""
        return self.of_lineage(lineage, states=OPEN_STATES)
