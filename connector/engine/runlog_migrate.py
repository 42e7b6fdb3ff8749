"""Schema versions of the run log, migrated forward when it is opened for writing.

`schema_version` holds one row, the version the tables are at; `MIGRATIONS[v]` (in
run_records.py) brings version v to v + 1. A log without the table predates versions: it
is at version 1 (runs, steps, loop items: the first release) or 2 (with retry claims and
write intents) by the tables it has, or 0 when empty. Migrating runs in one exclusive
transaction, so two processes opening a log at once migrate it once; a log written by a
newer release is refused rather than written with an older schema.
"""

from __future__ import annotations

from connector.engine.run_records import MIGRATIONS
from connector.engine.runlog_store import Store
from connector.errors import RunLogError

__all__ = ["SCHEMA_VERSION", "migrate", "schema_version"]

#: the version this release writes
SCHEMA_VERSION = len(MIGRATIONS)


def _unversioned(tables: set[str]) -> int:
    if "intents" in tables and "retries" in tables:
        return 2
    return 1 if "runs" in tables else 0


def schema_version(store: Store) -> int:
    """The log's schema version (0: empty)."""
    tables = store.table_names()
    if "schema_version" not in tables:
        return _unversioned(tables)
    row = store.execute("SELECT version FROM schema_version").fetchone()
    return _unversioned(tables) if row is None else int(row[0])


def _current(store: Store) -> bool:
    return "schema_version" in store.table_names() and schema_version(store) == SCHEMA_VERSION


def migrate(store: Store) -> int:
    """Bring the log to SCHEMA_VERSION; returns the version it was at."""
    if _current(store):  # the usual case: no lock taken
        return SCHEMA_VERSION
    with store.transaction(exclusive=True):
        found = schema_version(store)
        if found > SCHEMA_VERSION:
            raise RunLogError(
                f"the run log is at schema version {found}, newer than this release's "
                f"{SCHEMA_VERSION}; upgrade connector to use it",
                where=store.where,
            )
        if _current(store):  # another process migrated it meanwhile
            return found
        for script in MIGRATIONS[found:]:
            store.script(script)
        store.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        store.execute("DELETE FROM schema_version")
        store.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    return found
