"""Bitlinks as stored and as Bitly shows them; lookups shared by the handler modules."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from connector.sandbox.bitly.account import CLIENT_ID, USER_LOGIN
from connector.sandbox.bitly.errors import BitlyError, field_error, gone, not_found
from connector.sandbox.bitly.formats import bitly_time, is_valid_domain, is_valid_hash
from connector.sandbox.bitly.registry import Call
from connector.sandbox.bitly.store import Store

__all__ = [
    "bitlink_key",
    "create_link",
    "custom_keys_of",
    "link_by_key",
    "link_json",
    "link_keys_with_custom",
    "normalize_bitlink_id",
]


def bitlink_key(value: str) -> str | None:
    """`domain/hash` as stored (domain lower-cased), or None when malformed."""
    domain, _, hash_ = value.partition("/")
    domain = domain.lower()
    if not is_valid_domain(domain) or not is_valid_hash(hash_):
        return None
    return f"{domain}/{hash_}"


def normalize_bitlink_id(value: str, field: str, resource: str) -> str:
    """A bitlink id from a request body: `bit.ly/abc`, also accepted with a scheme."""
    text = value.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    key = bitlink_key(text.rstrip("/"))
    if key is None:
        raise field_error(field, "must be a bitlink such as bit.ly/abc1234", resource)
    return key


def link_by_key(call: Call, key: str | None, *, resolve_custom: bool = True) -> sqlite3.Row:
    """The live link `key` names (a custom bitlink resolves to its link).

    Missing -> 404; deleted -> 410 when the operation declares it, else 404.
    """
    resource = call.resource
    if key is None:
        raise not_found(resource, "bitlink")
    row = call.conn.execute("SELECT * FROM links WHERE key = ?", (key,)).fetchone()
    if row is None and resolve_custom:
        custom = call.conn.execute(
            "SELECT link_key FROM custom_bitlinks WHERE key = ?", (key,)
        ).fetchone()
        if custom is not None:
            row = call.conn.execute(
                "SELECT * FROM links WHERE key = ?", (custom["link_key"],)
            ).fetchone()
    if row is None:
        raise not_found(resource, f"bitlink {key!r}")
    if row["deleted"]:
        if "410" in call.op.responses:
            raise gone(resource, f"bitlink {key!r}")
        raise not_found(resource, f"bitlink {key!r}")
    return row


def custom_keys_of(conn: sqlite3.Connection, link_key: str) -> list[str]:
    rows = conn.execute(
        "SELECT key FROM custom_bitlinks WHERE link_key = ? ORDER BY created_ts, key", (link_key,)
    ).fetchall()
    return [r["key"] for r in rows]


def link_keys_with_custom(conn: sqlite3.Connection, link_key: str) -> list[str]:
    """A link's own key and its custom bitlinks: clicks on any of them are the link's."""
    return [link_key, *custom_keys_of(conn, link_key)]


def link_json(
    call: Call,
    row: sqlite3.Row,
    schema: dict[str, Any] | None = None,
    custom_keys: list[str] | None = None,
) -> dict[str, Any]:
    """The link as Bitly shows it, limited to the properties `schema` declares.

    `custom_keys` saves a query per link when the caller has them already."""
    if custom_keys is None:
        custom_keys = custom_keys_of(call.conn, row["key"])
    body: dict[str, Any] = {
        "references": {"group": call.api_url(f"/groups/{row['group_guid']}")},
        "link": f"https://{row['key']}",
        "id": row["key"],
        "long_url": row["long_url"],
        "title": row["title"],
        "archived": bool(row["archived"]),
        "created_at": bitly_time(row["created_ts"]),
        "created_by": row["created_by"],
        "client_id": row["client_id"],
        "custom_bitlinks": [f"https://{k}" for k in custom_keys],
        "tags": json.loads(row["tags"]),
        "launchpad_ids": [],
        "deeplinks": json.loads(row["deeplinks"]),
        "is_deleted": bool(row["deleted"]),
    }
    if schema and "properties" in schema:
        body = {k: v for k, v in body.items() if k in schema["properties"]}
    return body


def create_link(
    store: Store,
    *,
    group_guid: str,
    domain: str,
    long_url: str,
    now: float,
    title: str = "",
    tags: list[str] | None = None,
    deeplinks: list[dict[str, Any]] | None = None,
    hash_: str | None = None,
) -> sqlite3.Row:
    """Insert a new link with a fresh (or the given) back-half and return its row."""
    conn = store.conn
    while hash_ is None:
        candidate = store.next_token("hash", 7)
        if _key_free(conn, f"{domain}/{candidate}"):
            hash_ = candidate
    key = f"{domain}/{hash_}"
    if not _key_free(conn, key):
        raise BitlyError(409, "CONFLICT", f"{key} is taken", resource="bitlinks")
    conn.execute(
        "INSERT INTO links (key, domain, hash, group_guid, long_url, title, tags, deeplinks,"
        " created_ts, modified_ts, created_by, client_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            key,
            domain,
            hash_,
            group_guid,
            long_url,
            title,
            json.dumps(tags or []),
            json.dumps(deeplinks or []),
            now,
            now,
            USER_LOGIN,
            CLIENT_ID,
        ),
    )
    row = conn.execute("SELECT * FROM links WHERE key = ?", (key,)).fetchone()
    assert row is not None
    return row


def _key_free(conn: sqlite3.Connection, key: str) -> bool:
    """No link and no custom bitlink uses `key` (a deleted link keeps its key)."""
    return (
        conn.execute("SELECT 1 FROM links WHERE key = ?", (key,)).fetchone() is None
        and conn.execute("SELECT 1 FROM custom_bitlinks WHERE key = ?", (key,)).fetchone() is None
    )


def key_free(conn: sqlite3.Connection, key: str) -> bool:
    return _key_free(conn, key)
