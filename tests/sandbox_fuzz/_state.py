"""A fingerprint of a sandbox's SQLite state, to prove a request changed nothing."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


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


#: every kind of mutation each operation receives, in turn
MUTATION_KINDS = ("path", "query", "body", "auth", "content_type", "baseline")


def send_every_kind(
    operations: Sequence[T], cases_per_operation: int, send: Callable[[T, str], None]
) -> int:
    """Send `cases_per_operation` mutated requests per operation, cycling through every kind
    of mutation and starting each operation at a different one; returns how many were sent."""
    sent = 0
    for number, op in enumerate(operations):
        for i in range(cases_per_operation):
            send(op, MUTATION_KINDS[(number + i) % len(MUTATION_KINDS)])
            sent += 1
    return sent


def assert_intact(store: Any) -> None:
    """SQLite's own integrity check, under the store's lock."""
    with store.lock:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
