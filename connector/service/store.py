"""The service's own state beside the run log: saved workflows (every version kept) and the
sample data a test step keeps per action and workflow. SQLite (WAL), `service.db` in --home;
everything passes through `connector.redact` on its way in."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from connector.errors import InvalidConfiguration
from connector.redact import dumps_redacted

__all__ = ["DB_NAME", "Store"]

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
"""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InvalidConfiguration(
                f"cannot open the service store: {exc}", where=str(path)
            ) from None

    def close(self) -> None:
        self._db.close()

    # --- workflows -----------------------------------------------------------------------

    def save_workflow(self, workflow_id: str, document: dict[str, Any]) -> int:
        """Store `document` as the next version of `workflow_id` (1 for a new id)."""
        name = str(document.get("name", ""))
        self._db.execute("BEGIN IMMEDIATE")  # the next version number is taken once
        try:
            row = self._db.execute(
                "SELECT max(version) FROM workflows WHERE id=?", (workflow_id,)
            ).fetchone()
            version = (row[0] or 0) + 1
            self._db.execute(
                "INSERT INTO workflows (id, version, name, document_json, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (workflow_id, version, name, dumps_redacted(document), time.time()),
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return version

    @staticmethod
    def new_workflow_id() -> str:
        return "wf_" + secrets.token_hex(6)

    def workflow(self, workflow_id: str, version: int | None = None) -> dict[str, Any] | None:
        sql = "SELECT id, version, name, document_json, created_at FROM workflows WHERE id=?"
        args: tuple[Any, ...] = (workflow_id,)
        if version is not None:
            sql += " AND version=?"
            args = (*args, version)
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
        rows = self._db.execute(
            "SELECT id, max(version), name FROM workflows GROUP BY id ORDER BY id"
        )
        return [{"workflow_id": r[0], "version": r[1], "name": r[2]} for r in rows]

    # --- samples -------------------------------------------------------------------------

    def save_sample(self, action_id: str, workflow_id: str | None, ok: bool, result: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO samples (action_id, workflow_id, ok, result_json, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (action_id, workflow_id or "", int(ok), dumps_redacted(result), time.time()),
        )

    def sample(self, action_id: str, workflow_id: str | None) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT ok, result_json, created_at FROM samples WHERE action_id=? AND workflow_id=?",
            (action_id, workflow_id or ""),
        ).fetchone()
        if row is None:
            return None
        return {"ok": bool(row[0]), "result": json.loads(row[1]), "created_at": row[2]}
