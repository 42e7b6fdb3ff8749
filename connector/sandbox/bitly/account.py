"""The fixed account every sandbox has: organization, group, user, branded short domains."""

from __future__ import annotations

import json
from typing import Any

from connector.sandbox.bitly.errors import BitlyError, field_error, not_found
from connector.sandbox.bitly.formats import bitly_time
from connector.sandbox.bitly.registry import Call, Reply, handles
from connector.sandbox.bitly.store import DEFAULT_DOMAIN, Store

__all__ = [
    "BSDS",
    "CLIENT_ID",
    "GROUP_GUID",
    "ORG_GUID",
    "USER_LOGIN",
    "ensure_account",
    "group_row",
    "short_domains",
]

ORG_GUID = "Odemo000001"
GROUP_GUID = "Bdemo000001"
USER_LOGIN = "sandbox_user"
#: the OAuth app the sandbox's links are "created with"
CLIENT_ID = "sandbox0app0client0id0000000000000000000"
#: branded short domains of the account; bit.ly is always available as well
BSDS = ["sbx.ly"]
#: the account's creation time (fixed, so responses do not depend on start-up time)
ACCOUNT_CREATED = 1_600_000_000.0


def short_domains() -> list[str]:
    return [DEFAULT_DOMAIN, *BSDS]


def ensure_account(store: Store) -> None:
    """Create the organization's group and the user settings once per database."""
    if store.meta("account") is not None:
        return
    store.conn.execute(
        "INSERT INTO groups VALUES (?, ?, ?, ?, ?, ?)",
        (GROUP_GUID, ORG_GUID, "Sandbox Group", ACCOUNT_CREATED, ACCOUNT_CREATED, DEFAULT_DOMAIN),
    )
    store.set_meta("user", json.dumps({"name": "Sandbox User", "default_group_guid": GROUP_GUID}))
    store.set_meta("account", "1")


def group_row(call: Call, guid: str) -> Any:
    row = call.conn.execute("SELECT * FROM groups WHERE guid = ?", (guid,)).fetchone()
    if row is None:
        raise not_found("groups", f"group {guid!r}")
    return row


def group_json(call: Call, row: Any) -> dict[str, Any]:
    return {
        "guid": row["guid"],
        "organization_guid": row["organization_guid"],
        "name": row["name"],
        "created": bitly_time(row["created"]),
        "modified": bitly_time(row["modified"]),
        "is_active": True,
        "role": "org-admin",
        "bsds": list(BSDS),
        "references": {"organization": call.api_url(f"/organizations/{row['organization_guid']}")},
    }


def organization_json(call: Call) -> dict[str, Any]:
    return {
        "guid": ORG_GUID,
        "name": "Sandbox Organization",
        "is_active": True,
        "tier": "premium",
        "tier_family": "premium",
        "tier_display_name": "Premium",
        "role": "org-admin",
        "created": bitly_time(ACCOUNT_CREATED),
        "modified": bitly_time(ACCOUNT_CREATED),
        "bsds": list(BSDS),
        "references": {"groups": call.api_url(f"/groups?organization_guid={ORG_GUID}")},
    }


def require_org(guid: str) -> None:
    if guid != ORG_GUID:
        raise not_found("organizations", f"organization {guid!r}")


@handles("getOrganizations")
def get_organizations(call: Call) -> Reply:
    return None, {"organizations": [organization_json(call)]}


@handles("getOrganization")
def get_organization(call: Call) -> Reply:
    require_org(call.path["organization_guid"])
    return None, organization_json(call)


@handles("getGroups")
def get_groups(call: Call) -> Reply:
    org = call.query.get("organization_guid")
    rows = call.conn.execute("SELECT * FROM groups ORDER BY created").fetchall()
    return None, {
        "groups": [group_json(call, r) for r in rows if org in (None, r["organization_guid"])]
    }


@handles("getGroup")
def get_group(call: Call) -> Reply:
    return None, group_json(call, group_row(call, call.path["group_guid"]))


@handles("updateGroup")
def update_group(call: Call) -> Reply:
    row = group_row(call, call.path["group_guid"])
    name = call.field("name", row["name"])
    if not name.strip() or len(name) > 200:
        raise field_error("name", "must be 1 to 200 characters", "groups")
    org = call.field("organization_guid", row["organization_guid"])
    if org != row["organization_guid"]:
        raise field_error("organization_guid", "a group cannot change organization", "groups")
    call.conn.execute(
        "UPDATE groups SET name = ?, modified = ? WHERE guid = ?", (name, call.now, row["guid"])
    )
    return None, group_json(call, group_row(call, row["guid"]))


@handles("getGroupPreferences")
def get_group_preferences(call: Call) -> Reply:
    row = group_row(call, call.path["group_guid"])
    return None, {"group_guid": row["guid"], "domain_preference": row["domain_preference"]}


@handles("updateGroupPreferences")
def update_group_preferences(call: Call) -> Reply:
    row = group_row(call, call.path["group_guid"])
    domain = call.field("domain_preference", row["domain_preference"])
    if domain not in short_domains():
        raise field_error("domain_preference", f"must be one of {short_domains()}", "groups")
    call.conn.execute(
        "UPDATE groups SET domain_preference = ?, modified = ? WHERE guid = ?",
        (domain, call.now, row["guid"]),
    )
    return None, {"group_guid": row["guid"], "domain_preference": domain}


def _user(call: Call) -> dict[str, Any]:
    settings = json.loads(call.store.meta("user") or "{}")
    return {
        "login": USER_LOGIN,
        "name": settings.get("name", ""),
        "is_active": True,
        "created": bitly_time(ACCOUNT_CREATED),
        "modified": bitly_time(float(settings.get("modified", ACCOUNT_CREATED))),
        "is_2fa_enabled": False,
        "is_sso_user": False,
        "default_group_guid": settings.get("default_group_guid", GROUP_GUID),
        "emails": [{"email": "sandbox@example.com", "is_primary": True, "is_verified": True}],
    }


@handles("getUser")
def get_user(call: Call) -> Reply:
    return None, _user(call)


@handles("updateUser")
def update_user(call: Call) -> Reply:
    settings = json.loads(call.store.meta("user") or "{}")
    if "name" in call.body:
        if len(call.body["name"]) > 200:
            raise field_error("name", "must be at most 200 characters", "user")
        settings["name"] = call.body["name"]
    if "default_group_guid" in call.body:
        guid = call.body["default_group_guid"]
        if call.conn.execute("SELECT 1 FROM groups WHERE guid = ?", (guid,)).fetchone() is None:
            raise field_error("default_group_guid", f"no group {guid!r}", "user")
        settings["default_group_guid"] = guid
    settings["modified"] = call.now
    call.store.set_meta("user", json.dumps(settings))
    return None, _user(call)


@handles("getBSDs")
def get_bsds(call: Call) -> Reply:
    return None, {"bsds": list(BSDS)}


@handles("getOAuthApp")
def get_oauth_app(call: Call) -> Reply:
    if call.path["client_id"] != CLIENT_ID:
        raise not_found("apps", f"app {call.path['client_id']!r}")
    return None, {
        "client_id": CLIENT_ID,
        "name": "Connector Sandbox",
        "link": "https://example.com/connector",
        "description": "The app the sandbox's links are created with.",
    }


def default_group(call: Call) -> str:
    return str(json.loads(call.store.meta("user") or "{}").get("default_group_guid", GROUP_GUID))


def forbidden(resource: str) -> BitlyError:
    return BitlyError(403, "FORBIDDEN", resource=resource)
