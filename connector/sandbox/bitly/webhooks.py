"""Webhooks of the organization: create (201), get, update, delete (204), verify, list."""

from __future__ import annotations

import json
from typing import Any

from connector.sandbox.bitly.account import GROUP_GUID, ORG_GUID, USER_LOGIN, require_org
from connector.sandbox.bitly.errors import field_error, not_found
from connector.sandbox.bitly.formats import bitly_time, long_url_problem
from connector.sandbox.bitly.registry import Call, Reply, handles

__all__ = ["DEMO_WEBHOOK_GUID", "insert_demo_webhook"]

#: the demo account's one webhook (`--seed`): what Get, Update, Verify and Delete run on
DEMO_WEBHOOK_GUID = "Wdemo000001"

RESOURCE = "webhooks"
_SETTABLE = (
    "name",
    "event",
    "url",
    "is_active",
    "group_guid",
    "oauth_url",
    "client_id",
    "client_secret",
    "fetch_tags",
)


def _load(call: Call, guid: str) -> dict[str, Any]:
    row = call.conn.execute(
        "SELECT body FROM webhooks WHERE guid = ? AND deleted = 0", (guid,)
    ).fetchone()
    if row is None:
        raise not_found(RESOURCE, f"webhook {guid!r}")
    return dict(json.loads(row["body"]))


def _save(call: Call, hook: dict[str, Any]) -> None:
    call.conn.execute(
        "INSERT INTO webhooks (guid, body) VALUES (?, ?)"
        " ON CONFLICT (guid) DO UPDATE SET body = excluded.body",
        (hook["guid"], json.dumps(hook)),
    )


def _apply(call: Call, hook: dict[str, Any]) -> None:
    for name in _SETTABLE:
        if name in call.body:
            hook[name] = call.body[name]
    if not str(hook.get("name", "")).strip():
        raise field_error("name", "must not be empty", RESOURCE)
    if not str(hook.get("event", "")).strip():
        raise field_error("event", "must not be empty", RESOURCE)
    for name in ("url", "oauth_url"):
        if hook.get(name):
            problem = long_url_problem(hook[name])
            if problem:
                raise field_error(name, problem, RESOURCE)
    group = hook.get("group_guid")
    if (
        group
        and call.conn.execute("SELECT 1 FROM groups WHERE guid = ?", (group,)).fetchone() is None
    ):
        raise field_error("group_guid", f"no group {group!r}", RESOURCE)
    hook["modified"] = bitly_time(call.now)
    hook["modified_by"] = USER_LOGIN


def _new_hook(guid: str, created: float) -> dict[str, Any]:
    """A new webhook's fields before the caller's are applied: active, never alerted."""
    return {
        "guid": guid,
        "organization_guid": ORG_GUID,
        "created": bitly_time(created),
        "alerted": "",
        "deactivated": "",
        "is_active": True,
        "is_alert": False,
        "fetch_tags": False,
        "status": "active",
    }


def insert_demo_webhook(conn: Any, created: float) -> None:
    """The demo organization's webhook: link clicks of the demo group to an example URL."""
    hook = _new_hook(DEMO_WEBHOOK_GUID, created) | {
        "group_guid": GROUP_GUID,
        "name": "Clicks to CRM",
        "event": "bitlink_click",
        "url": "https://hooks.example.com/bitly",
        "modified": bitly_time(created),
        "modified_by": USER_LOGIN,
    }
    conn.execute(
        "INSERT INTO webhooks (guid, body) VALUES (?, ?)", (hook["guid"], json.dumps(hook))
    )


def _public(call: Call, hook: dict[str, Any]) -> dict[str, Any]:
    body = dict(hook)
    body["references"] = {
        "organization": call.api_url(f"/organizations/{hook['organization_guid']}")
    }
    return body


@handles("createWebhook")
def create(call: Call) -> Reply:
    if call.body["organization_guid"] != ORG_GUID:
        raise field_error(
            "organization_guid", f"no organization {call.body['organization_guid']!r}", RESOURCE
        )
    hook = _new_hook("W" + call.store.next_token("webhook", 10), call.now)
    _apply(call, hook)
    _save(call, hook)
    return 201, _public(call, hook)


@handles("getWebhook")
def get(call: Call) -> Reply:
    return None, _public(call, _load(call, call.path["webhook_guid"]))


@handles("updateWebhook")
def update(call: Call) -> Reply:
    hook = _load(call, call.path["webhook_guid"])
    if call.body["guid"] != hook["guid"]:
        raise field_error("guid", "must be the guid of the webhook in the path", RESOURCE)
    was_active = hook["is_active"]
    _apply(call, hook)
    if was_active and not hook["is_active"]:
        hook["deactivated"] = bitly_time(call.now)
    _save(call, hook)
    return None, _public(call, hook)


@handles("deleteWebhook")
def delete(call: Call) -> Reply:
    hook = _load(call, call.path["webhook_guid"])
    call.conn.execute("UPDATE webhooks SET deleted = 1 WHERE guid = ?", (hook["guid"],))
    return 204, None


@handles("verifyWebhook")
def verify(call: Call) -> Reply:
    # The sandbox does not call out to the webhook's URL; it records a successful check.
    hook = _load(call, call.path["webhook_guid"])
    hook["status"] = "verified"
    hook["modified"] = bitly_time(call.now)
    _save(call, hook)
    return None, _public(call, hook)


@handles("getWebhooks")
def list_webhooks(call: Call) -> Reply:
    require_org(call.path["organization_guid"])
    rows = call.conn.execute(
        "SELECT body FROM webhooks WHERE deleted = 0 ORDER BY rowid"
    ).fetchall()
    return None, {"webhooks": [_public(call, json.loads(r["body"])) for r in rows]}
