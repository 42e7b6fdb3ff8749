"""Saved connections: a named credential for an app, sealed by `SecretBox` before it is
written (`service.db`, table `connections`); only the name, the app and when it was saved
and tested are ever read back in the clear. Every credential opened is registered with the
redactor, so it is masked by value in every answer, page, log line and run log."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from connector.credentials import checked_credential
from connector.errors import InvalidConfiguration
from connector.service.secret_box import SecretBox, UndecryptableSecret
from connector.service.store import open_sqlite

__all__ = ["ConnectionRecord", "ConnectionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS connections (
    name TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    sealed BLOB NOT NULL,
    created_at REAL NOT NULL,
    tested_at REAL
);
"""


@dataclass(frozen=True)
class ConnectionRecord:
    name: str
    app: str
    created_at: float
    tested_at: float | None


class ConnectionStore:
    def __init__(self, path: Path, box: SecretBox | None) -> None:
        self.box = box
        self._db = open_sqlite(path, _SCHEMA, "the connection store")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _bound(name: str, app: str) -> str:
        return f"connection\0{name}\0{app}"

    def add(self, name: str, app: str, credential: str, tested_at: float | None) -> bool:
        """Seal and store; False when the name is taken (nothing written)."""
        assert self.box is not None, "no secret key: callers check first"
        sealed = self.box.seal(credential, self._bound(name, app))
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO connections (name, app, sealed, created_at, tested_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, app, sealed, time.time(), tested_at),
            )
        return cursor.rowcount == 1

    def get(self, name: str) -> ConnectionRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, app, created_at, tested_at FROM connections WHERE name=?", (name,)
            ).fetchone()
        return None if row is None else ConnectionRecord(*row)

    def records(self) -> list[ConnectionRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, app, created_at, tested_at FROM connections ORDER BY name"
            ).fetchall()
        return [ConnectionRecord(*row) for row in rows]

    def delete(self, name: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM connections WHERE name=?", (name,))
        return cursor.rowcount == 1

    def credential(self, name: str) -> tuple[str, str] | None:
        """(app, credential) of `name`, registered for masking; None when there is no such
        connection. UndecryptableSecret when it was sealed under another key."""
        with self._lock:
            row = self._db.execute(
                "SELECT app, sealed FROM connections WHERE name=?", (name,)
            ).fetchone()
        if row is None:
            return None
        app, sealed = row
        if self.box is None:
            raise UndecryptableSecret(name)
        value = self.box.open(bytes(sealed), self._bound(name, app))
        return app, checked_credential(value, f"connection {name!r}")

    def register_all(self) -> list[str]:
        """Open every stored credential once so each is masked from the start (a run log
        shared with other processes may quote one); the names that do not open."""
        unopened = []
        for record in self.records():
            try:
                self.credential(record.name)
            except (UndecryptableSecret, InvalidConfiguration):
                unopened.append(record.name)
        return unopened
