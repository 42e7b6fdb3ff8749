"""Campaigns and channels; a channel's bitlinks are (bitlink, campaign) pairs."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from connector.sandbox.bitly.account import USER_LOGIN, default_group
from connector.sandbox.bitly.errors import field_error, not_found
from connector.sandbox.bitly.formats import bitly_time
from connector.sandbox.bitly.links import link_by_key, normalize_bitlink_id
from connector.sandbox.bitly.registry import Call, Reply, handles
from connector.sandbox.bitly.store import Store

__all__ = ["insert_campaign", "insert_channel", "link_channel"]

MAX_NAME = 255


def insert_campaign(
    store: Store,
    guid: str,
    group: str,
    name: str,
    description: str,
    channels: list[str],
    now: float,
) -> None:
    store.conn.execute(
        "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (guid, group, name, description, json.dumps(channels), now, now, USER_LOGIN),
    )


def insert_channel(store: Store, guid: str, group: str, name: str, now: float) -> None:
    store.conn.execute("INSERT INTO channels VALUES (?, ?, ?, ?, ?)", (guid, group, name, now, now))


def link_channel(store: Store, channel: str, campaign: str, link_key: str) -> None:
    store.conn.execute(
        "INSERT OR IGNORE INTO channel_links VALUES (?, ?, ?)", (channel, campaign, link_key)
    )


def _group(call: Call, resource: str) -> str:
    guid = call.field("group_guid") or default_group(call)
    if call.conn.execute("SELECT 1 FROM groups WHERE guid = ?", (guid,)).fetchone() is None:
        raise field_error("group_guid", f"no group {guid!r} in this account", resource)
    return str(guid)


def _name(call: Call, resource: str, current: str | None = None) -> str:
    name = call.field("name", current)
    if name is None:
        raise field_error("name", "is required", resource, code="missing")
    if not name.strip() or len(name) > MAX_NAME:
        raise field_error("name", f"must be 1 to {MAX_NAME} characters", resource)
    return str(name)


def _campaign_row(call: Call, guid: str) -> sqlite3.Row:
    row = call.conn.execute("SELECT * FROM campaigns WHERE guid = ?", (guid,)).fetchone()
    if row is None:
        raise not_found("campaigns", f"campaign {guid!r}")
    return row


def _campaign_json(call: Call, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "guid": row["guid"],
        "group_guid": row["group_guid"],
        "name": row["name"],
        "description": row["description"],
        "created": bitly_time(row["created"]),
        "modified": bitly_time(row["modified"]),
        "created_by": row["created_by"],
        "references": {"group": call.api_url(f"/groups/{row['group_guid']}")},
    }


def _channel_guids(call: Call) -> list[str]:
    guids = list(dict.fromkeys(call.field("channel_guids", [])))
    for i, guid in enumerate(guids):
        if call.conn.execute("SELECT 1 FROM channels WHERE guid = ?", (guid,)).fetchone() is None:
            raise field_error(f"channel_guids[{i}]", f"no channel {guid!r}", "campaigns")
    return guids


@handles("getCampaigns")
def list_campaigns(call: Call) -> Reply:
    rows = call.conn.execute("SELECT * FROM campaigns ORDER BY created, guid").fetchall()
    group = call.query.get("group_guid")
    return None, {
        "campaigns": [_campaign_json(call, r) for r in rows if group in (None, r["group_guid"])]
    }


@handles("createCampaign")
def create_campaign(call: Call) -> Reply:
    name = _name(call, "campaigns")
    group = _group(call, "campaigns")
    channels = _channel_guids(call)
    guid = "C" + call.store.next_token("campaign", 10)
    insert_campaign(
        call.store, guid, group, name, call.field("description", ""), channels, call.now
    )
    return None, _campaign_json(call, _campaign_row(call, guid))


@handles("getCampaign")
def get_campaign(call: Call) -> Reply:
    return None, _campaign_json(call, _campaign_row(call, call.path["campaign_guid"]))


@handles("updateCampaign")
def update_campaign(call: Call) -> Reply:
    row = _campaign_row(call, call.path["campaign_guid"])
    name = _name(call, "campaigns", row["name"])
    group = _group(call, "campaigns") if "group_guid" in call.body else row["group_guid"]
    channels = (
        _channel_guids(call) if "channel_guids" in call.body else json.loads(row["channel_guids"])
    )
    call.conn.execute(
        "UPDATE campaigns SET name = ?, description = ?, group_guid = ?, channel_guids = ?,"
        " modified = ? WHERE guid = ?",
        (
            name,
            call.field("description", row["description"]),
            group,
            json.dumps(channels),
            call.now,
            row["guid"],
        ),
    )
    return None, _campaign_json(call, _campaign_row(call, row["guid"]))


def _channel_row(call: Call, guid: str) -> sqlite3.Row:
    row = call.conn.execute("SELECT * FROM channels WHERE guid = ?", (guid,)).fetchone()
    if row is None:
        raise not_found("channels", f"channel {guid!r}")
    return row


def _channel_json(call: Call, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "guid": row["guid"],
        "group_guid": row["group_guid"],
        "name": row["name"],
        "created": bitly_time(row["created"]),
        "modified": bitly_time(row["modified"]),
        "references": {"group": call.api_url(f"/groups/{row['group_guid']}")},
    }


def _set_channel_links(call: Call, channel: str) -> None:
    pairs = []
    for i, item in enumerate(call.field("bitlinks", [])):
        key = normalize_bitlink_id(
            item.get("bitlink_id", ""), f"bitlinks[{i}].bitlink_id", "channels"
        )
        link_by_key(call, key, resolve_custom=False)
        campaign = item.get("campaign_guid", "")
        if (
            call.conn.execute("SELECT 1 FROM campaigns WHERE guid = ?", (campaign,)).fetchone()
            is None
        ):
            raise field_error(
                f"bitlinks[{i}].campaign_guid", f"no campaign {campaign!r}", "channels"
            )
        pairs.append((campaign, key))
    call.conn.execute("DELETE FROM channel_links WHERE channel_guid = ?", (channel,))
    for campaign, key in pairs:
        link_channel(call.store, channel, campaign, key)


@handles("getChannels")
def list_channels(call: Call) -> Reply:
    rows = call.conn.execute("SELECT * FROM channels ORDER BY created, guid").fetchall()
    group = call.query.get("group_guid")
    campaign = call.query.get("campaign_guid")
    in_campaign: set[str] | None = None
    if campaign is not None:
        in_campaign = {
            r["channel_guid"]
            for r in call.conn.execute(
                "SELECT channel_guid FROM channel_links WHERE campaign_guid = ?", (campaign,)
            )
        }
        found = call.conn.execute(
            "SELECT channel_guids FROM campaigns WHERE guid = ?", (campaign,)
        ).fetchone()
        if found is not None:
            in_campaign.update(json.loads(found["channel_guids"]))
    return None, {
        "channels": [
            _channel_json(call, r)
            for r in rows
            if group in (None, r["group_guid"])
            and (in_campaign is None or r["guid"] in in_campaign)
        ]
    }


@handles("createChannel")
def create_channel(call: Call) -> Reply:
    name = _name(call, "channels")
    group = _group(call, "channels")
    guid = "H" + call.store.next_token("channel", 10)
    insert_channel(call.store, guid, group, name, call.now)
    _set_channel_links(call, guid)
    return None, _channel_json(call, _channel_row(call, guid))


@handles("getChannel")
def get_channel(call: Call) -> Reply:
    return None, _channel_json(call, _channel_row(call, call.path["channel_guid"]))


@handles("updateChannel")
def update_channel(call: Call) -> Reply:
    row = _channel_row(call, call.path["channel_guid"])
    name = _name(call, "channels", row["name"])
    group = _group(call, "channels") if "group_guid" in call.body else row["group_guid"]
    if "bitlinks" in call.body:
        _set_channel_links(call, row["guid"])
    call.conn.execute(
        "UPDATE channels SET name = ?, group_guid = ?, modified = ? WHERE guid = ?",
        (name, group, call.now, row["guid"]),
    )
    return None, _channel_json(call, _channel_row(call, row["guid"]))
