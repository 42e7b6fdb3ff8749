"""Links and clicks of the shorten.dev sandbox, in SQLite (memory, or a file kept across runs)."""

from __future__ import annotations

import json
import random
import sqlite3
import string
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connector.sandbox.clicks import CLICKS_DDL, Click, insert_clicks

__all__ = ["Link", "LinkStore", "NewLink", "SlugTaken", "iso"]

_LINKS_DDL = """
CREATE TABLE IF NOT EXISTS links (
    slug TEXT PRIMARY KEY,
    destination_url TEXT NOT NULL,
    status TEXT NOT NULL,
    threat_type TEXT,
    revoked_at REAL,
    tags TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS links_created_at ON links (created_at);
"""
_COLUMNS = "slug, destination_url, status, threat_type, revoked_at, tags, created_at, updated_at"
_SLUG_ALPHABET = string.ascii_letters + string.digits
#: sortable columns, as the API names them
SORT_FIELDS = ("created_at", "updated_at", "slug", "destination_url", "status")


def iso(ts: float) -> str:
    """Epoch seconds -> `2026-01-17T10:04:05Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class SlugTaken(Exception):
    def __init__(self, slugs: list[str]) -> None:
        super().__init__(", ".join(slugs))
        self.slugs = slugs


@dataclass(frozen=True)
class NewLink:
    destination_url: str
    custom_slug: str | None
    tags: list[str]
    threat_type: str | None


@dataclass(frozen=True)
class Link:
    slug: str
    destination_url: str
    status: str
    threat_type: str | None
    revoked_at: float | None
    tags: list[str]
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "destination_url": self.destination_url,
            "status": self.status,
            "threat_type": self.threat_type,
            "revoked_at": iso(self.revoked_at) if self.revoked_at is not None else None,
            "tags": list(self.tags),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def _row_to_link(row: tuple[Any, ...]) -> Link:
    return Link(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7])


class LinkStore:
    """All state of one sandbox; safe to use from the server thread and a test thread."""

    def __init__(self, db_path: str | None, slug_seed: int | None) -> None:
        self.conn = sqlite3.connect(db_path or ":memory:", check_same_thread=False)
        self.conn.executescript(_LINKS_DDL + CLICKS_DDL)
        self.conn.commit()
        self.lock = threading.RLock()
        # Generated slugs are reproducible under a seed; collisions with stored slugs
        # (a reopened --db file) are skipped.
        self._rng = random.Random(f"shorten-dev-slugs:{slug_seed}")

    def close(self) -> None:
        self.conn.close()

    # -- links -------------------------------------------------------------------------------

    def get(self, slug: str) -> Link | None:
        with self.lock:
            row = self.conn.execute(
                f"SELECT {_COLUMNS} FROM links WHERE slug = ?", (slug,)
            ).fetchone()
        return _row_to_link(row) if row else None

    def count_links(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM links").fetchone()[0])

    def created_since(self, since: float) -> list[float]:
        """Creation times after `since`, oldest first (the hourly creation window)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT created_at FROM links WHERE created_at > ? ORDER BY created_at", (since,)
            ).fetchall()
        return [r[0] for r in rows]

    def create_many(self, new: Sequence[NewLink], now: float) -> list[Link]:
        """Create all links or none; raises SlugTaken naming every taken custom slug."""
        with self.lock:
            wanted = [n.custom_slug for n in new if n.custom_slug]
            taken = self._existing(wanted)
            if taken:
                raise SlugTaken(taken)
            links: list[Link] = []
            used = set(wanted)
            for item in new:
                slug = item.custom_slug or self._fresh_slug(used)
                used.add(slug)
                status = "flagged" if item.threat_type else "active"
                links.append(
                    Link(
                        slug,
                        item.destination_url,
                        status,
                        item.threat_type,
                        None,
                        list(item.tags),
                        now,
                        now,
                    )
                )
            self.insert(links)
            return links

    def insert(self, links: Sequence[Link]) -> None:
        with self.lock, self.conn:
            self.conn.executemany(
                f"INSERT INTO links ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        link.slug,
                        link.destination_url,
                        link.status,
                        link.threat_type,
                        link.revoked_at,
                        json.dumps(link.tags),
                        link.created_at,
                        link.updated_at,
                    )
                    for link in links
                ],
            )

    def revoke(self, slug: str, now: float) -> Link | None:
        """Mark revoked (idempotent: a second revoke keeps the first time)."""
        with self.lock, self.conn:
            self.conn.execute(
                "UPDATE links SET status = 'revoked', revoked_at = ?, updated_at = ? "
                "WHERE slug = ? AND status != 'revoked'",
                (now, now, slug),
            )
            return self.get(slug)

    def page(self, page: int, limit: int, sort: str, order: str) -> tuple[list[Link], int]:
        if sort not in SORT_FIELDS or order not in ("asc", "desc"):
            raise ValueError(f"bad sort {sort!r} or order {order!r}")
        direction = "ASC" if order == "asc" else "DESC"
        with self.lock:
            total = int(self.conn.execute("SELECT COUNT(*) FROM links").fetchone()[0])
            offset = (page - 1) * limit
            if offset >= total:
                # past the last page (SQLite's integers would overflow on a huge `page`)
                return [], total
            rows = self.conn.execute(
                # slug breaks ties, so pages never overlap or skip rows
                f"SELECT {_COLUMNS} FROM links ORDER BY {sort} {direction}, slug {direction} "
                "LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [_row_to_link(r) for r in rows], total

    def _existing(self, slugs: list[str]) -> list[str]:
        if not slugs:
            return []
        marks = ", ".join("?" * len(slugs))
        rows = self.conn.execute(f"SELECT slug FROM links WHERE slug IN ({marks})", slugs)
        found = {r[0] for r in rows}
        return [s for s in slugs if s in found]

    def _fresh_slug(self, used: set[str]) -> str:
        while True:
            slug = "".join(self._rng.choice(_SLUG_ALPHABET) for _ in range(7))
            if slug not in used and not self._existing([slug]):
                return slug

    # -- clicks ------------------------------------------------------------------------------

    def add_clicks(self, clicks: Sequence[Click]) -> None:
        with self.lock, self.conn:
            insert_clicks(self.conn, clicks)
