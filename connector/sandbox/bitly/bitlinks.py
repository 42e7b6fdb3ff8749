"""Shorten, create, get, update, delete and expand bitlinks."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from connector.sandbox.bitly.account import default_group, short_domains
from connector.sandbox.bitly.errors import BitlyError, field_error
from connector.sandbox.bitly.formats import bitly_time, long_url_problem
from connector.sandbox.bitly.links import (
    bitlink_key,
    create_link,
    link_by_key,
    link_json,
    normalize_bitlink_id,
)
from connector.sandbox.bitly.registry import Call, Reply, handles
from connector.sandbox.bitly.store import DEFAULT_DOMAIN

__all__ = ["clean_tags"]

MAX_TAGS = 100
MAX_TAG_LENGTH = 128
MAX_TITLE_LENGTH = 2048


def clean_tags(values: list[str], field: str, resource: str = "bitlinks") -> list[str]:
    """Tags as stored: stripped, non-empty, unique, in the order given."""
    out: list[str] = []
    for i, value in enumerate(values):
        tag = value.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise field_error(
                f"{field}[{i}]", f"must be 1 to {MAX_TAG_LENGTH} characters", resource
            )
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise field_error(field, f"at most {MAX_TAGS} tags", resource)
    return out


def _checked_long_url(call: Call) -> str:
    long_url = call.field("long_url", "").strip()
    problem = long_url_problem(long_url)
    if problem:
        raise field_error("long_url", problem, call.resource)
    host = (urlsplit(long_url).hostname or "").lower()
    if host in short_domains():
        raise BitlyError(
            400,
            "ALREADY_A_BITLY_LINK",
            f"{long_url} is already a short link",
            resource=call.resource,
            errors=[],
        )
    return long_url


def _checked_group(call: Call) -> str:
    guid = call.field("group_guid") or default_group(call)
    if call.conn.execute("SELECT 1 FROM groups WHERE guid = ?", (guid,)).fetchone() is None:
        raise field_error("group_guid", f"no group {guid!r} in this account", call.resource)
    return str(guid)


def _checked_domain(call: Call) -> str:
    domain = str(call.field("domain") or DEFAULT_DOMAIN).lower()
    if domain not in short_domains():
        raise field_error("domain", f"must be one of {short_domains()}", call.resource)
    return domain


def _existing(call: Call, group: str, domain: str, long_url: str) -> sqlite3.Row | None:
    return call.conn.execute(
        "SELECT * FROM links WHERE group_guid = ? AND domain = ? AND long_url = ? AND deleted = 0"
        " ORDER BY seq LIMIT 1",
        (group, domain, long_url),
    ).fetchone()


def _target(call: Call) -> tuple[str, str, str, Any]:
    """(long_url, domain, group) checked, and the link already made for them in that group."""
    long_url = _checked_long_url(call)
    domain = _checked_domain(call)
    group = _checked_group(call)
    return long_url, domain, group, _existing(call, group, domain, long_url)


@handles("createBitlink")
def shorten(call: Call) -> Reply:
    long_url, domain, group, existing = _target(call)
    schema = call.op.responses["200"]
    if existing is not None:
        return 200, link_json(call, existing, schema)
    row = create_link(call.store, group_guid=group, domain=domain, long_url=long_url, now=call.now)
    return 201, link_json(call, row, schema)


def _deeplinks(call: Call) -> list[dict[str, Any]]:
    return [dict(d) for d in call.field("deeplinks", [])]


@handles("createFullBitlink")
def create_full(call: Call) -> Reply:
    long_url, domain, group, existing = _target(call)
    schema = call.op.responses["200"]
    if existing is not None:
        return 200, link_json(call, existing, schema)
    title = call.field("title", "")
    if len(title) > MAX_TITLE_LENGTH:
        raise field_error("title", f"must be at most {MAX_TITLE_LENGTH} characters", "bitlinks")
    row = create_link(
        call.store,
        group_guid=group,
        domain=domain,
        long_url=long_url,
        now=call.now,
        title=title,
        tags=clean_tags(call.field("tags", []), "tags"),
        deeplinks=_deeplinks(call),
    )
    # The description declares only 200 for this operation, new link or not.
    return 200, link_json(call, row, schema)


@handles("getBitlink")
def get_bitlink(call: Call) -> Reply:
    row = link_by_key(call, bitlink_key(call.path["bitlink"]))
    return None, link_json(call, row, call.op.responses["200"])


@handles("updateBitlink")
def update_bitlink(call: Call) -> Reply:
    row = link_by_key(call, bitlink_key(call.path["bitlink"]))
    changes: dict[str, Any] = {}
    if "title" in call.body:
        if len(call.body["title"]) > MAX_TITLE_LENGTH:
            raise field_error("title", f"must be at most {MAX_TITLE_LENGTH} characters", "bitlinks")
        changes["title"] = call.body["title"]
    if "archived" in call.body:
        changes["archived"] = int(call.body["archived"])
    if "tags" in call.body:
        changes["tags"] = json.dumps(clean_tags(call.body["tags"], "tags"))
    if "deeplinks" in call.body:
        changes["deeplinks"] = json.dumps(_deeplinks(call))
    if "long_url" in call.body and call.body["long_url"] != row["long_url"]:
        changes["long_url"] = _checked_long_url(call)
    # id, link, created_at and the other read-only fields are ignored, as Bitly does.
    if changes:
        changes["modified_ts"] = call.now
        assignments = ", ".join(f"{column} = ?" for column in changes)
        call.conn.execute(
            f"UPDATE links SET {assignments} WHERE seq = ?", (*changes.values(), row["seq"])
        )
    row = call.conn.execute("SELECT * FROM links WHERE seq = ?", (row["seq"],)).fetchone()
    return None, link_json(call, row, call.op.responses["200"])


@handles("deleteBitlink")
def delete_bitlink(call: Call) -> Reply:
    row = link_by_key(call, bitlink_key(call.path["bitlink"]), resolve_custom=False)
    call.conn.execute(
        "UPDATE links SET deleted = 1, modified_ts = ? WHERE seq = ?", (call.now, row["seq"])
    )
    return None, {"links_deleted": [{"id": row["key"]}]}


@handles("expandBitlink")
def expand(call: Call) -> Reply:
    key = normalize_bitlink_id(call.field("bitlink_id", ""), "bitlink_id", "bitlinks")
    row = link_by_key(call, key)
    return None, {
        "created_at": bitly_time(row["created_ts"]),
        "link": f"https://{key}",
        "id": key,
        "long_url": row["long_url"],
    }
