"""The service's own state beside the run log: saved workflows (every version kept) and the
sample data a test step keeps per action and workflow. SQLite (WAL), `service.db` in --home;
everything passes through `connector.redact` on its way in."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from connector.errors import InvalidConfiguration
from connector.redact import dumps_redacted

__all__ = ["DB_NAME", "Store", "open_sqlite"]

DB_NAME = "service.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    document_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS samples (
    action_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    ok INTEGER NOT NULL,
    result_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (action_id, workflow_id)
);
CREATE TABLE IF NOT EXISTS run_origins (
    run_id TEXT PRIMARY KEY,
    workflow_id TEXT,
    version INTEGER,
    connections_json TEXT NOT NULL
);
"""


def open_sqlite(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """`service.db` opened (WAL) with `schema` applied; InvalidConfiguration naming `what`.

    Built where the app is created and used from the server's threads: one connection per
    store, its uses serialised by the store's lock."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
    except (OSError, sqlite3.Error) as exc:
        raise InvalidConfiguration(f"cannot open {what}: {exc}", where=str(path)) from None
    return db


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_sqlite(path, _SCHEMA, "the service store")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- workflows -----------------------------------------------------------------------

    @staticmethod
    def new_workflow_id() -> str:
        return "wf_" + secrets.token_hex(6)

    def save_workflow(self, workflow_id: str, document: dict[str, Any]) -> int:
        """Store `document` as the next version of `workflow_id` (1 for a new id)."""
        name = str(document.get("name", ""))
        text = dumps_redacted(document)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the next version number is taken once
            try:
                row = self._db.execute(
                    "SELECT max(version) FROM workflows WHERE id=?", (workflow_id,)
                ).fetchone()
                version: int = (row[0] or 0) + 1
                self._db.execute(
                    "INSERT INTO workflows (id, version, name, document_json, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (workflow_id, version, name, text, time.time()),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return version

    def workflow(self, workflow_id: str, version: int | None = None) -> dict[str, Any] | None:
        sql = "SELECT id, version, name, document_json, created_at FROM workflows WHERE id=?"
        args: tuple[Any, ...] = (workflow_id,)
        if version is not None:
            sql += " AND version=?"
            args = (*args, version)
        with self._lock:
            row = self._db.execute(sql + " ORDER BY version DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return {
            "workflow_id": row[0],
            "version": row[1],
            "name": row[2],
            "workflow": json.loads(row[3]),
            "created_at": row[4],
        }

    def workflows(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, max(version), name FROM workflows GROUP BY id ORDER BY id"
            ).fetchall()
        return [{"workflow_id": r[0], "version": r[1], "name": r[2]} for r in rows]

    # --- samples -------------------------------------------------------------------------

    def save_sample(self, action_id: str, workflow_id: str | None, ok: bool, result: Any) -> None:
        text = dumps_redacted(result)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO samples"
                " (action_id, workflow_id, ok, result_json, created_at) VALUES (?, ?, ?, ?, ?)",
                (action_id, workflow_id or "", int(ok), text, time.time()),
            )

    def sample(self, action_id: str, workflow_id: str | None) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT ok, result_json, created_at FROM samples"
                " WHERE action_id=? AND workflow_id=?",
                (action_id, workflow_id or ""),
            ).fetchone()
        if row is None:
            return None
        return {"ok": bool(row[0]), "result": json.loads(row[1]), "created_at": row[2]}

    # --- where a run came from (for retries: its saved workflow, its connections) --------

    def save_origin(
        self, run_id: str, workflow_id: str | None, version: int | None, connections: list[str]
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO run_origins (run_id, workflow_id, version,"
                " connections_json) VALUES (?, ?, ?, ?)",
                (run_id, workflow_id, version, json.dumps(connections)),
            )

    def origin(self, run_id: str) -> tuple[str | None, int | None, list[str]]:
        """(saved workflow id, version, connection names) of a run this service started;
        (None, None, []) for one it did not (an inline workflow, the CLI)."""
        with self._lock:
            row = self._db.execute(
                "SELECT workflow_id, version, connections_json FROM run_origins WHERE run_id=?",
                (run_id,),
            ).fetchone()
        if row is None:
            return None, None, []
        return row[0], row[1], list(json.loads(row[2]))
