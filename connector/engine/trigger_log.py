"""Triggers' state in the run log's database, beside the runs they start.

`triggers` holds each enabled workflow's trigger: its spec, a polling trigger's state, a
schedule's last fire time, a webhook's hook id (and only the hash of its secret) and its
subscription at the API. `trigger_events` is the outbox between "an event happened" and
"its run exists": one row per event, keyed by (workflow, event key), its `run_id` set in the
same transaction that creates the run's row (`claim`, called by the run log that creates
it). So:

- a poll's new state and its events commit together (`record_poll`): a crash before the
  commit polls again from the old state, one after it finds the events still to start;
- the primary key makes an event recorded once however often it arrives (a webhook retried
  five times, concurrently; a schedule tick seen by two processes);
- an event starts one run: the claim succeeds once, and a crash between the event and its
  run leaves it pending, started on restart (`pending`).

Every statement runs on the run log's Store (SQLite or PostgreSQL), SQL written once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connector.engine.runlog_store import Store
from connector.errors import EventTaken
from connector.redact import dumps_redacted, redact

__all__ = ["TRIGGERS_SCHEMA", "TriggerEvent", "TriggerLog", "TriggerRow"]

TRIGGERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS triggers (
    workflow_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    hook_id TEXT UNIQUE,
    hook_secret_sha256 TEXT,
    subscription_json TEXT,
    state_json TEXT,
    due_at REAL,
    last_fired_at REAL,
    last_error TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trigger_events (
    workflow_id TEXT NOT NULL,
    event_key TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    run_id TEXT,
    error TEXT,
    PRIMARY KEY (workflow_id, event_key)
);
CREATE INDEX IF NOT EXISTS trigger_events_pending ON trigger_events (run_id, created_at, seq);
"""

_COLUMNS = (
    "workflow_id, version, kind, spec_json, enabled, hook_id, hook_secret_sha256,"
    " subscription_json, state_json, due_at, last_fired_at, last_error, updated_at"
)


@dataclass(frozen=True)
class TriggerRow:
    workflow_id: str
    version: int
    kind: str
    spec: dict[str, Any]
    enabled: bool
    hook_id: str | None
    hook_secret_sha256: str | None
    subscription: dict[str, Any] | None
    #: the state_json text as stored: a poll commits only over the state it read
    state_json: str | None
    due_at: float | None
    last_fired_at: float | None
    last_error: str | None
    updated_at: float

    @property
    def connections(self) -> list[str]:
        """The service connections its polls, subscription and runs use (kept in the spec
        as enabled, under `connection`)."""
        names = self.spec.get("connection") or []
        return [str(n) for n in names]

    @property
    def state(self) -> dict[str, Any] | None:
        value = _load(self.state_json)
        return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class TriggerEvent:
    workflow_id: str
    key: str
    payload: Any
    created_at: float
    run_id: str | None


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dump(value: Any) -> str | None:
    return None if value is None else dumps_redacted(value)


def _row(r: Any) -> TriggerRow:
    return TriggerRow(
        workflow_id=r[0],
        version=r[1],
        kind=r[2],
        spec=json.loads(r[3]),
        enabled=bool(r[4]),
        hook_id=r[5],
        hook_secret_sha256=r[6],
        subscription=_load(r[7]),
        state_json=r[8],
        due_at=r[9],
        last_fired_at=r[10],
        last_error=r[11],
        updated_at=r[12],
    )


class TriggerLog:
    """The trigger tables of one run log (`RunLog.store`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- the triggers ----------------------------------------------------------------------

    def enable(
        self,
        workflow_id: str,
        *,
        version: int,
        kind: str,
        spec: dict[str, Any],
        now: float,
        due_at: float | None,
        hook_id: str | None = None,
        hook_secret_sha256: str | None = None,
        subscription: dict[str, Any] | None = None,
    ) -> None:
        """Enable (or re-enable) the workflow's trigger. A polling trigger re-enabled with
        the same spec keeps its state, so it resumes where it stopped instead of replaying
        or skipping; another spec starts afresh."""
        spec_json = dumps_redacted(spec)
        with self.store.transaction():
            old = self.get(workflow_id)
            keep = old is not None and old.kind == kind and dumps_redacted(old.spec) == spec_json
            state = old.state_json if keep and old is not None else None
            fired = old.last_fired_at if keep and old is not None else None
            self.store.execute("DELETE FROM triggers WHERE workflow_id=?", (workflow_id,))
            self.store.execute(
                f"INSERT INTO triggers ({_COLUMNS})"
                " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    workflow_id, version, kind, spec_json, hook_id, hook_secret_sha256,
                    _dump(subscription), state, due_at, fired, now,
                ),
            )  # fmt: skip

    def disable(self, workflow_id: str, *, now: float) -> None:
        """Disabled: nothing polls or fires; its hook answers 404 (the secret is dropped)."""
        self.store.execute(
            "UPDATE triggers SET enabled=0, hook_id=NULL, hook_secret_sha256=NULL,"
            " subscription_json=NULL, due_at=NULL, updated_at=? WHERE workflow_id=?",
            (now, workflow_id),
        )

    def get(self, workflow_id: str) -> TriggerRow | None:
        row = self.store.execute(
            f"SELECT {_COLUMNS} FROM triggers WHERE workflow_id=?", (workflow_id,)
        ).fetchone()
        return None if row is None else _row(row)

    def by_hook(self, hook_id: str) -> TriggerRow | None:
        row = self.store.execute(
            f"SELECT {_COLUMNS} FROM triggers WHERE hook_id=? AND enabled=1", (hook_id,)
        ).fetchone()
        return None if row is None else _row(row)

    def all(self, *, enabled_only: bool = False) -> list[TriggerRow]:
        where = " WHERE enabled=1" if enabled_only else ""
        rows = self.store.execute(f"SELECT {_COLUMNS} FROM triggers{where} ORDER BY workflow_id")
        return [_row(r) for r in rows]

    def due(self, now: float) -> list[TriggerRow]:
        """Enabled polling and schedule triggers whose time has come."""
        rows = self.store.execute(
            f"SELECT {_COLUMNS} FROM triggers WHERE enabled=1 AND due_at IS NOT NULL"
            " AND due_at <= ? ORDER BY due_at",
            (now,),
        )
        return [_row(r) for r in rows]

    def note_error(self, workflow_id: str, error: str | None, *, due_at: float | None) -> None:
        """A poll or a subscription failed (or succeeded again: None); try at `due_at`."""
        self.store.execute(
            "UPDATE triggers SET last_error=?, due_at=coalesce(?, due_at) WHERE workflow_id=?",
            (error, due_at, workflow_id),
        )

    # --- recording events (each with the trigger's new state, in one transaction) ----------

    def _insert_events(self, workflow_id: str, events: list[tuple[str, Any]], now: float) -> int:
        added = 0
        for seq, (key, payload) in enumerate(events):  # seq: a poll's order, oldest first
            cursor: Any = self.store.execute(
                "INSERT INTO trigger_events"
                " (workflow_id, event_key, payload_json, created_at, seq)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (workflow_id, event_key) DO NOTHING",
                (workflow_id, key, dumps_redacted(payload), now, seq),
            )
            added += max(cursor.rowcount, 0)
        return added

    def record_poll(
        self,
        row: TriggerRow,
        events: list[tuple[str, Any]],
        state: dict[str, Any],
        *,
        now: float,
        due_at: float,
    ) -> bool:
        """The poll's events and its next state, committed together over the state the poll
        started from; False (nothing written) when another poll moved the state meanwhile
        or the trigger was disabled."""
        same_state = "state_json IS NULL" if row.state_json is None else "state_json=?"
        old = () if row.state_json is None else (row.state_json,)
        try:
            with self.store.transaction():
                cursor: Any = self.store.execute(
                    "UPDATE triggers SET state_json=?, due_at=?, last_error=NULL, updated_at=?"
                    f" WHERE workflow_id=? AND enabled=1 AND version=? AND {same_state}",
                    (dumps_redacted(state), due_at, now, row.workflow_id, row.version, *old),
                )
                if cursor.rowcount != 1:
                    raise _MovedError
                self._insert_events(row.workflow_id, events, now)
        except _MovedError:
            return False
        return True

    def record_fire(
        self, row: TriggerRow, key: str, payload: Any, *, fired_at: float, now: float, due_at: float
    ) -> bool:
        """A schedule's one run for the time `fired_at` (however many times were missed
        before it), and its next time, committed together; False when already recorded."""
        with self.store.transaction():
            cursor: Any = self.store.execute(
                "UPDATE triggers SET last_fired_at=?, due_at=?, updated_at=?"
                " WHERE workflow_id=? AND enabled=1 AND version=?"
                " AND (last_fired_at IS NULL OR last_fired_at < ?)",
                (fired_at, due_at, now, row.workflow_id, row.version, fired_at),
            )
            if cursor.rowcount != 1:
                return False
            self._insert_events(row.workflow_id, [(key, payload)], now)
        return True

    def record_delivery(self, workflow_id: str, key: str, payload: Any, *, now: float) -> bool:
        """A webhook delivery; False when an event with this key was recorded before (a
        retried delivery), decided by the primary key, atomically."""
        return self._insert_events(workflow_id, [(key, payload)], now) == 1

    # --- starting their runs ----------------------------------------------------------------

    def event(self, workflow_id: str, key: str) -> TriggerEvent | None:
        row = self.store.execute(
            "SELECT workflow_id, event_key, payload_json, created_at, run_id"
            " FROM trigger_events WHERE workflow_id=? AND event_key=?",
            (workflow_id, key),
        ).fetchone()
        return None if row is None else TriggerEvent(row[0], row[1], _load(row[2]), row[3], row[4])

    def pending(self, workflow_id: str | None = None, limit: int = 1000) -> list[TriggerEvent]:
        """Events whose run was not started yet, oldest first."""
        sql = (
            "SELECT workflow_id, event_key, payload_json, created_at, run_id"
            " FROM trigger_events WHERE run_id IS NULL AND error IS NULL"
        )
        args: tuple[Any, ...] = ()
        if workflow_id is not None:
            sql += " AND workflow_id=?"
            args = (workflow_id,)
        sql += " ORDER BY created_at, seq, event_key LIMIT ?"
        rows = self.store.execute(sql, (*args, limit))
        return [TriggerEvent(r[0], r[1], _load(r[2]), r[3], r[4]) for r in rows]

    def claim(self, workflow_id: str, key: str, run_id: str) -> None:
        """Mark the event started by `run_id`; run inside the transaction creating the
        run's row, so both commit or neither. EventTaken when it was started already."""
        cursor: Any = self.store.execute(
            "UPDATE trigger_events SET run_id=? WHERE workflow_id=? AND event_key=?"
            " AND run_id IS NULL",
            (run_id, workflow_id, key),
        )
        if cursor.rowcount != 1:
            raise EventTaken(f"the run of event {key!r} was started already", where=workflow_id)

    def reject(self, workflow_id: str, key: str, error: str) -> None:
        """The event cannot start a run (its payload does not fit the workflow): kept, with
        the reason, and no longer pending."""
        self.store.execute(
            "UPDATE trigger_events SET error=? WHERE workflow_id=? AND event_key=?"
            " AND run_id IS NULL",
            (redact(error), workflow_id, key),
        )

    def event_counts(self, workflow_id: str) -> dict[str, int]:
        row = self.store.execute(
            "SELECT count(*), count(run_id), count(error) FROM trigger_events WHERE workflow_id=?",
            (workflow_id,),
        ).fetchone()
        total, started, rejected = (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
        return {
            "events": total,
            "started": started,
            "rejected": rejected,
            "pending": total - started - rejected,
        }


class _MovedError(Exception):
    """Rolls a poll's transaction back: its trigger changed since it was read."""
