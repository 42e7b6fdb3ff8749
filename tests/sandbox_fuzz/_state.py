"""A fingerprint of a sandbox's SQLite state, to prove a request changed nothing."""

from __future__ import annotations

import hashlib
import sqlite3


def fingerprint(conn: sqlite3.Connection) -> str:
    """A digest of every table but the click log, plus the number of clicks."""
    digest = hashlib.sha256()
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    for table in tables:
        if table == "clicks":
            digest.update(repr(conn.execute("SELECT COUNT(*) FROM clicks").fetchone()[0]).encode())
            continue
        digest.update(table.encode())
        for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()
