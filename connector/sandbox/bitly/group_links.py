"""A group's bitlinks: the filtered, paginated list (page numbers or a search_after cursor),
bulk archive / edit_tags, tags, links sorted by clicks, and shorten counts."""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from typing import Any
from urllib.parse import urlencode

from connector.sandbox.bitly.account import ORG_GUID, group_row, require_org
from connector.sandbox.bitly.bitlinks import clean_tags
from connector.sandbox.bitly.errors import field_error, not_found
from connector.sandbox.bitly.links import link_json, normalize_bitlink_id
from connector.sandbox.bitly.metrics import clicks_by_link, shorten_counts_response
from connector.sandbox.bitly.registry import Call, Reply, handles

__all__ = ["MAX_BULK_LINKS", "MAX_PAGE_SIZE"]

MAX_PAGE_SIZE = 1000
MAX_BULK_LINKS = 100


def _on_off(setting: str, value: bool) -> bool:
    return setting == "both" or (setting == "on") == value


def _sql_filters(call: Call, guid: str) -> tuple[str, list[Any]]:
    """The filters SQL can apply on its own columns (the rest are checked in `_matches`)."""
    q = call.query
    clauses: list[str] = ["group_guid = ?", "deleted = 0"]
    args: list[Any] = [guid]
    if q["archived"] != "both":
        clauses.append("archived = ?")
        args.append(int(q["archived"] == "on"))
    if q["deeplinks"] != "both" or q["domain_deeplinks"] != "both":
        for setting in {q["deeplinks"], q["domain_deeplinks"]} - {"both"}:
            clauses.append("deeplinks " + ("!=" if setting == "on" else "=") + " '[]'")
    for name, column, op in (
        ("created_before", "created_ts", "<"),
        ("created_after", "created_ts", ">"),
        ("modified_after", "modified_ts", ">"),
    ):
        if name in q:
            clauses.append(f"{column} {op} ?")
            args.append(q[name])
    if q.get("encoding_login"):
        clauses.append(f"created_by IN ({', '.join('?' for _ in q['encoding_login'])})")
        args.extend(q["encoding_login"])
    return " AND ".join(clauses), args


def _matches(call: Call, row: sqlite3.Row, customs: list[str]) -> bool:
    q = call.query
    if not _on_off(q["custom_bitlink"], bool(customs)):
        return False
    if "keyword" in q and q["keyword"] not in [k.split("/", 1)[1] for k in customs]:
        return False
    if q.get("tags") or "query" in q:
        tags = json.loads(row["tags"])
        if q.get("tags") and not set(q["tags"]) & set(tags):
            return False
        if "query" in q:
            haystack = " ".join([row["key"], row["long_url"], row["title"], *tags, *customs])
            if q["query"].casefold() not in haystack.casefold():
                return False
    # The sandbox has no launchpads: a launchpad filter matches nothing.
    return not q.get("launchpad_ids")


def _channel_links(call: Call) -> set[str] | None:
    """Links in the requested campaign/channel, or None when neither filter is given."""
    clauses, args = [], []
    for name in ("campaign_guid", "channel_guid"):
        if name in call.query:
            clauses.append(f"{name} = ?")
            args.append(call.query[name])
    if not clauses:
        return None
    rows = call.conn.execute(
        f"SELECT link_key FROM channel_links WHERE {' AND '.join(clauses)}", args
    ).fetchall()
    return {r["link_key"] for r in rows}


def _encode_cursor(row: sqlite3.Row) -> str:
    raw = f"{row['created_ts']!r}:{row['seq']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[float, int]:
    try:
        padded = value + "=" * (-len(value) % 4)
        ts, _, seq = base64.urlsafe_b64decode(padded.encode("ascii")).decode().partition(":")
        return float(ts), int(seq)
    except (ValueError, UnicodeError, binascii.Error):
        raise field_error("search_after", "is not a cursor this API returned", "groups") from None


def _page_url(call: Call, replace: dict[str, str]) -> str:
    pairs = [(k, v) for k, v in call.raw_query if k not in replace]
    pairs.extend(replace.items())
    return call.api_url(f"/groups/{call.path['group_guid']}/bitlinks") + "?" + urlencode(pairs)


def _customs(call: Call, link_keys: list[str] | None) -> dict[str, list[str]]:
    """link key -> its custom bitlinks (for the given links, or all)."""
    sql = "SELECT key, link_key FROM custom_bitlinks"
    args: list[str] = []
    if link_keys is not None:
        sql += f" WHERE link_key IN ({', '.join('?' for _ in link_keys)})"
        args = link_keys
    out: dict[str, list[str]] = {}
    for r in call.conn.execute(sql + " ORDER BY created_ts, key", args):
        out.setdefault(r["link_key"], []).append(r["key"])
    return out


def _python_filters(call: Call) -> bool:
    q = call.query
    return (
        q["custom_bitlink"] != "both"
        or any(name in q for name in ("keyword", "query"))
        or bool(q.get("tags"))
        or bool(q.get("launchpad_ids"))
        or _channel_links(call) is not None
    )


def _select(
    call: Call, guid: str, size: int, page: int, position: tuple[float, int] | None
) -> tuple[list[sqlite3.Row], int, dict[str, list[str]]]:
    """One page of matching links (plus one to tell whether more follow), the total, and
    their custom bitlinks."""
    where, args = _sql_filters(call, guid)
    order = "ORDER BY created_ts DESC, seq DESC"
    if _python_filters(call):
        in_channel = _channel_links(call)
        customs = _customs(call, None)
        rows = [
            r
            for r in call.conn.execute(f"SELECT * FROM links WHERE {where} {order}", args)
            if (in_channel is None or r["key"] in in_channel)
            and _matches(call, r, customs.get(r["key"], []))
        ]
        total = len(rows)
        if position is not None:
            rows = [r for r in rows if (r["created_ts"], r["seq"]) < position]
        else:
            rows = rows[(page - 1) * size :]
        return rows[: size + 1], total, customs
    # No filter needs Python: let SQLite count and page.
    total = int(call.conn.execute(f"SELECT COUNT(*) FROM links WHERE {where}", args).fetchone()[0])
    if position is not None:
        where += " AND (created_ts, seq) < (?, ?)"
        args = [*args, *position]
        offset = 0
    else:
        offset = (page - 1) * size
    rows = call.conn.execute(
        f"SELECT * FROM links WHERE {where} {order} LIMIT ? OFFSET ?", [*args, size + 1, offset]
    ).fetchall()
    return rows, total, _customs(call, [r["key"] for r in rows])


@handles("getBitlinksByGroup")
def list_group_links(call: Call) -> Reply:
    guid = group_row(call, call.path["group_guid"])["guid"]
    size = call.query["size"]
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise field_error("size", f"must be between 1 and {MAX_PAGE_SIZE}", "groups")
    page = call.query["page"]
    if page < 1:
        raise field_error("page", "must be 1 or more", "groups")
    cursor = dict(call.raw_query).get("search_after")
    position = _decode_cursor(cursor) if cursor else None
    rows, total, customs = _select(call, guid, size, page, position)
    chunk, more = rows[:size], len(rows) > size
    schema = call.success_schema()["properties"]["links"]["items"]
    links = [link_json(call, r, schema, customs.get(r["key"], [])) for r in chunk]
    pagination: dict[str, Any]
    if cursor is not None:
        # The cursor form of newer API versions, used when the request carries search_after.
        next_cursor = _encode_cursor(chunk[-1]) if chunk and more else ""
        pagination = {
            "total": total,
            "size": size,
            "prev": "",
            "page": 1,
            "search_after": next_cursor,
            "next": _page_url(call, {"search_after": next_cursor}) if next_cursor else "",
        }
    else:
        last_page = max(1, -(-total // size))
        pagination = {
            "total": total,
            "size": size,
            "page": page,
            "prev": _page_url(call, {"page": str(page - 1)}) if 1 < page <= last_page + 1 else "",
            "next": _page_url(call, {"page": str(page + 1)}) if more else "",
        }
    return None, {"links": links, "pagination": pagination}


@handles("updateBitlinksByGroup")
def bulk_update(call: Call) -> Reply:
    guid = group_row(call, call.path["group_guid"])["guid"]
    action = call.body["action"]
    links = call.field("links")
    if links is None:
        raise field_error("links", "is required", "groups", code="missing")
    if len(links) > MAX_BULK_LINKS:
        raise field_error("links", f"at most {MAX_BULK_LINKS} bitlinks per request", "groups")
    keys = [normalize_bitlink_id(v, f"links[{i}]", "groups") for i, v in enumerate(links)]
    if action == "archive":
        archived = call.field("archive", True)
    else:
        add = clean_tags(call.field("add_tags", []), "add_tags", "groups")
        remove = set(clean_tags(call.field("remove_tags", []), "remove_tags", "groups"))
        if not add and not remove:
            raise field_error("add_tags", "edit_tags needs add_tags or remove_tags", "groups")
    updated: list[str] = []
    for key in dict.fromkeys(keys):
        row = call.conn.execute(
            "SELECT * FROM links WHERE key = ? AND group_guid = ? AND deleted = 0", (key, guid)
        ).fetchone()
        if row is None:
            continue  # Bitly answers with the links it changed; unknown ones are skipped
        if action == "archive":
            call.conn.execute(
                "UPDATE links SET archived = ?, modified_ts = ? WHERE seq = ?",
                (int(archived), call.now, row["seq"]),
            )
        else:
            tags = [t for t in json.loads(row["tags"]) if t not in remove]
            tags += [t for t in add if t not in tags]
            call.conn.execute(
                "UPDATE links SET tags = ?, modified_ts = ? WHERE seq = ?",
                (json.dumps(tags), call.now, row["seq"]),
            )
        updated.append(key)
    return None, {"links": updated}


@handles("getGroupTags")
def group_tags(call: Call) -> Reply:
    guid = group_row(call, call.path["group_guid"])["guid"]
    tags: set[str] = set()
    for row in call.conn.execute(
        "SELECT tags FROM links WHERE group_guid = ? AND deleted = 0", (guid,)
    ):
        tags.update(json.loads(row["tags"]))
    return None, {"tags": sorted(tags, key=str.casefold)}


@handles("getSortedBitlinks")
def sorted_links(call: Call) -> Reply:
    guid = group_row(call, call.path["group_guid"])["guid"]
    if call.path["sort"] != "clicks":
        raise not_found("groups", f"sort {call.path['sort']!r} (only 'clicks' exists)")
    size = call.query.get("size", 50)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise field_error("size", f"must be between 1 and {MAX_PAGE_SIZE}", "groups")
    rows = call.conn.execute(
        "SELECT * FROM links WHERE group_guid = ? AND deleted = 0 ORDER BY seq", (guid,)
    ).fetchall()
    by_key = {row["key"]: row for row in rows}
    # a custom bitlink's clicks are recorded under the bitlink it points to
    totals = clicks_by_link(call.conn, list(by_key), dict(call.query), call.now)
    ranked = sorted(
        (k for k in by_key if totals.get(k, 0) > 0), key=lambda k: (-totals[k], -by_key[k]["seq"])
    )[:size]
    schema = call.success_schema()["properties"]["links"]["items"]
    return None, {
        "links": [link_json(call, by_key[k], schema) for k in ranked],
        "sorted_links": [{"id": k, "clicks": totals[k]} for k in ranked],
    }


def _created(call: Call, where: str, args: tuple[Any, ...]) -> list[float]:
    rows = call.conn.execute(f"SELECT created_ts FROM links WHERE {where}", args).fetchall()
    return [r["created_ts"] for r in rows]


@handles("getGroupShortenCounts")
def group_shorten_counts(call: Call) -> Reply:
    guid = group_row(call, call.path["group_guid"])["guid"]
    return None, shorten_counts_response(
        _created(call, "group_guid = ?", (guid,)), call.query, call.now
    )


@handles("getOrganizationShortenCounts")
def organization_shorten_counts(call: Call) -> Reply:
    require_org(call.path["organization_guid"])
    return None, shorten_counts_response(
        _created(
            call,
            "group_guid IN (SELECT guid FROM groups WHERE organization_guid = ?)",
            (ORG_GUID,),
        ),
        call.query,
        call.now,
    )


@handles("getOverridesForGroups")
def overrides(call: Call) -> Reply:
    group_row(call, call.path["group_guid"])
    return None, {"overrides": [], "total_count": 0}


@handles("getQRLogoImagesByGroup")
def qr_logo_images(call: Call) -> Reply:
    group_row(call, call.path["group_guid"])
    return None, {"qr_logo_images": []}
