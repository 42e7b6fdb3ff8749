"""The Bitly sandbox's state: one SQLite connection (memory or a --db file) behind one lock.

Handlers run with the lock held inside one transaction (`Store.transaction`), so a request
that fails half-way leaves nothing behind and concurrent requests never interleave.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from connector.sandbox.bitly.formats import derived_token
from connector.sandbox.clicks import CLICKS_DDL

__all__ = ["DEFAULT_DOMAIN", "Store"]

DEFAULT_DOMAIN = "bit.ly"

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    guid TEXT PRIMARY KEY, organization_guid TEXT NOT NULL, name TEXT NOT NULL,
    created REAL NOT NULL, modified REAL NOT NULL, domain_preference TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL,
    hash TEXT NOT NULL,
    group_guid TEXT NOT NULL,
    long_url TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    archived INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    deeplinks TEXT NOT NULL DEFAULT '[]',
    created_ts REAL NOT NULL,
    modified_ts REAL NOT NULL,
    created_by TEXT NOT NULL,
    client_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS links_group ON links (group_guid, created_ts);
CREATE INDEX IF NOT EXISTS links_long_url ON links (group_guid, domain, long_url);
CREATE TABLE IF NOT EXISTS custom_bitlinks (
    key TEXT PRIMARY KEY, link_key TEXT NOT NULL, created_ts REAL NOT NULL,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS custom_link ON custom_bitlinks (link_key);
CREATE TABLE IF NOT EXISTS campaigns (
    guid TEXT PRIMARY KEY, group_guid TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, channel_guids TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL, modified REAL NOT NULL, created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    guid TEXT PRIMARY KEY, group_guid TEXT NOT NULL, name TEXT NOT NULL,
    created REAL NOT NULL, modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_links (
    channel_guid TEXT NOT NULL, campaign_guid TEXT NOT NULL, link_key TEXT NOT NULL,
    PRIMARY KEY (channel_guid, campaign_guid, link_key)
);
CREATE TABLE IF NOT EXISTS webhooks (
    guid TEXT PRIMARY KEY, body TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS qr_codes (
    link_key TEXT PRIMARY KEY, customization TEXT NOT NULL, is_hidden INTEGER NOT NULL,
    created REAL NOT NULL, modified REAL NOT NULL
);
"""


class Store:
    """SQLite state of one Bitly sandbox; `conn` is only used with `lock` held."""

    def __init__(self, db_path: str | None = None, *, salt: str = "0") -> None:
        self.conn = sqlite3.connect(
            db_path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self.salt = salt
        if db_path:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_DDL)
        self.conn.executescript(CLICKS_DDL)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run one transaction, rolled back if the block raises."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def next_token(self, kind: str, length: int) -> str:
        """The next id of `kind`: derived from the salt and a persisted counter.

        The same seed and the same sequence of requests give the same ids, which keeps
        recorded cassettes stable.
        """
        number = int(self.meta(f"counter:{kind}") or "0") + 1
        self.set_meta(f"counter:{kind}", str(number))
        return derived_token(f"{self.salt}:{kind}:{number}", length)

    def close(self) -> None:
        with self.lock:
            self.conn.close()
