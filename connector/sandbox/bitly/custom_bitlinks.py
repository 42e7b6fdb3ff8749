"""Custom bitlinks: a keyword on a short domain (`sbx.ly/spring-sale`) pointing at a bitlink.

Each custom bitlink keeps a history of the bitlinks it has pointed to; a click through it is
recorded under the bitlink it points to at the time.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from connector.sandbox.bitly.account import USER_LOGIN, short_domains
from connector.sandbox.bitly.errors import BitlyError, field_error, not_found
from connector.sandbox.bitly.formats import bitly_time
from connector.sandbox.bitly.links import (
    bitlink_key,
    key_free,
    link_by_key,
    link_json,
    normalize_bitlink_id,
)
from connector.sandbox.bitly.registry import Call, Reply, handles
from connector.sandbox.bitly.store import Store

__all__ = ["add_custom_bitlink", "custom_row"]

RESOURCE = "custom_bitlinks"


def custom_row(call: Call) -> sqlite3.Row:
    key = bitlink_key(call.path["custom_bitlink"])
    row = (
        None
        if key is None
        else call.conn.execute("SELECT * FROM custom_bitlinks WHERE key = ?", (key,)).fetchone()
    )
    if row is None:
        raise not_found(RESOURCE, f"custom bitlink {call.path['custom_bitlink']!r}")
    return row


def add_custom_bitlink(store: Store, key: str, link_key: str, now: float) -> None:
    """Point the free `key` at `link_key` (the caller has checked both)."""
    history = [{"link_key": link_key, "from": now, "to": None}]
    store.conn.execute(
        "INSERT INTO custom_bitlinks (key, link_key, created_ts, history) VALUES (?, ?, ?, ?)",
        (key, link_key, now, json.dumps(history)),
    )


def _body(call: Call, row: sqlite3.Row) -> dict[str, Any]:
    link = link_by_key(call, row["link_key"], resolve_custom=False)
    schema = call.success_schema()["properties"]["bitlink"]
    domain, _, keyword = row["key"].partition("/")
    history: list[dict[str, Any]] = []
    for entry in json.loads(row["history"]):
        target = call.conn.execute(
            "SELECT * FROM links WHERE key = ?", (entry["link_key"],)
        ).fetchone()
        history.append(
            {
                "bsd": domain,
                "keyword": keyword,
                "hash": entry["link_key"].partition("/")[2],
                "long_url": target["long_url"] if target is not None else "",
                "group_guid": target["group_guid"] if target is not None else "",
                "login": USER_LOGIN,
                "is_active": entry["to"] is None,
                "created": bitly_time(entry["from"]),
                "first_created": bitly_time(row["created_ts"]),
                "deactivated": bitly_time(entry["to"]) if entry["to"] is not None else "",
                "uuid": f"{row['key']}#{len(history)}",
            }
        )
    return {
        "custom_bitlink": f"https://{row['key']}",
        "bitlink": link_json(call, link, schema),
        "bitlink_history": history,
    }


def _custom_key(call: Call) -> str:
    value = call.body["custom_bitlink"]
    key = normalize_bitlink_id(value, "custom_bitlink", RESOURCE)
    if key.split("/")[0] not in short_domains():
        raise BitlyError(
            400,
            "INVALID_ARG_CUSTOM_BITLINK",
            f"the domain must be one of {short_domains()}",
            resource=RESOURCE,
        )
    return key


@handles("addCustomBitlink")
def add(call: Call) -> Reply:
    if "custom_bitlink" not in call.body or "bitlink_id" not in call.body:
        missing = "custom_bitlink" if "custom_bitlink" not in call.body else "bitlink_id"
        raise BitlyError(
            400, f"INVALID_ARG_{missing.upper()}", f"{missing} is required", resource=RESOURCE
        )
    key = _custom_key(call)
    link = link_by_key(call, normalize_bitlink_id(call.body["bitlink_id"], "bitlink_id", RESOURCE))
    if not key_free(call.conn, key):
        raise BitlyError(409, "CONFLICT", f"{key} is already taken", resource=RESOURCE)
    add_custom_bitlink(call.store, key, link["key"], call.now)
    row = call.conn.execute("SELECT * FROM custom_bitlinks WHERE key = ?", (key,)).fetchone()
    return None, _body(call, row)


@handles("getCustomBitlink")
def get(call: Call) -> Reply:
    return None, _body(call, custom_row(call))


@handles("updateCustomBitlink")
def update(call: Call) -> Reply:
    row = custom_row(call)
    if "bitlink_id" not in call.body:
        raise field_error("bitlink_id", "is required", RESOURCE, code="missing")
    link = link_by_key(call, normalize_bitlink_id(call.body["bitlink_id"], "bitlink_id", RESOURCE))
    if link["key"] != row["link_key"]:
        history = json.loads(row["history"])
        history[-1]["to"] = call.now
        history.append({"link_key": link["key"], "from": call.now, "to": None})
        call.conn.execute(
            "UPDATE custom_bitlinks SET link_key = ?, history = ? WHERE key = ?",
            (link["key"], json.dumps(history), row["key"]),
        )
        row = custom_row(call)
    return None, _body(call, row)
