"""Bitly's own account limits (`rate_limits.learn` in manifests/bitly/app.yaml).

`GET /v4/user/platform_limits` lists, per endpoint and method, the hourly limit and the
count used; Bitly's per-minute limit is a tenth of the hourly one. `GET
/v4/organizations/{guid}/plan_limits` lists the monthly plan figures (links created, API
calls ...) with what is used; the organisation is the one of the user's default group.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from connector import errors as E
from connector.engine.limits import PlanFigure
from connector.engine.rate_limits import EndpointLimit
from connector.http.client import AppClient

__all__ = [
    "SOURCE",
    "default_organization",
    "plan_figures",
    "plan_limits",
    "plan_use",
    "platform_limits",
]

SOURCE = "GET /v4/user/platform_limits"
_WHERE = "bitly.limits"
#: path parameters whose values are two segments (domain/hash)
_TWO_SEGMENTS = ("{bitlink}", "{custom_bitlink}")
#: monthly figures one request to an endpoint uses, beyond every request's API calls
_PLAN_USE = {("POST", "shorten"): ("encodes",), ("POST", "bitlinks"): ("encodes",)}
_EVERY_REQUEST = ("api_calls",)


def _relative(client: AppClient, endpoint: str) -> str:
    base = client.base_url.path.rstrip("/")  # "/v4"
    path = endpoint if endpoint.startswith("/") else "/" + endpoint
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :]
    for name in _TWO_SEGMENTS:
        path = path.replace(name, name[:-1] + ":2}")
    return path.strip("/")


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise E.FatalError(f"Bitly reported {value!r} for {where}; expected a count", where=_WHERE)
    return value


async def platform_limits(client: AppClient, where: str = _WHERE) -> list[EndpointLimit]:
    body = await client.request(where, "GET", "user/platform_limits")
    entries = body.get("platform_limits") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise E.FatalError(
            "Bitly's platform_limits answer has no platform_limits list", where=_WHERE
        )
    base = client.base_url.path.rstrip("/")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("endpoint"), str):
            continue
        endpoint = entry["endpoint"]
        template = _relative(client, endpoint)
        shown = endpoint if endpoint.startswith(base + "/") else f"{base}/{endpoint.lstrip('/')}"
        for method in entry.get("methods") or ():
            if not isinstance(method, dict) or not isinstance(method.get("name"), str):
                continue
            name = method["name"].upper()
            hourly = _count(method.get("limit"), f"{name} {endpoint} limit")
            used = _count(method.get("count", 0), f"{name} {endpoint} count")
            if hourly <= 0:
                continue
            out.append(
                EndpointLimit(
                    method=name,
                    template=template,
                    label=f"{name} {shown}",
                    per_minute=max(1, hourly // 10),
                    per_hour=hourly,
                    used_hour=used,
                )
            )
    return out


async def default_organization(client: AppClient, where: str = _WHERE) -> str:
    """The organisation of the user's default group."""
    user = await client.request(where, "GET", "user")
    group = user.get("default_group_guid") if isinstance(user, dict) else None
    if not isinstance(group, str) or not group:
        raise E.FatalError("Bitly's user has no default_group_guid", where=where)
    found = await client.request(where, "GET", f"groups/{group}")
    org = found.get("organization_guid") if isinstance(found, dict) else None
    if not isinstance(org, str) or not org:
        raise E.FatalError(f"Bitly's group {group} has no organization_guid", where=where)
    return org


async def plan_limits(client: AppClient) -> list[PlanFigure]:
    return await plan_figures(client, await default_organization(client))


async def plan_figures(client: AppClient, org: str, where: str = _WHERE) -> list[PlanFigure]:
    """The organisation's monthly plan figures (GET /organizations/{org}/plan_limits)."""
    body = await client.request(where, "GET", f"organizations/{quote(org, safe='')}/plan_limits")
    figures = []
    for item in (body.get("plan_limits") if isinstance(body, dict) else None) or ():
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        figures.append(
            PlanFigure(
                name=item["name"],
                limit=_count(item.get("limit"), f"plan limit {item['name']}"),
                count=_count(item.get("count", 0), f"plan count {item['name']}"),
                description=str(item.get("description") or ""),
            )
        )
    return figures


def plan_use(method: str, template: str) -> tuple[str, ...]:
    """Monthly figures one request uses (shortening an existing link may use none of
    `encodes`: counted anyway, so a loop is never let start that could run out)."""
    return _EVERY_REQUEST + _PLAN_USE.get((method.upper(), template.strip("/")), ())
