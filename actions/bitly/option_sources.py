"""Searches that feed dynamic options where the usual source needs an input the action lacks.

Update Bitlink names no group, so its tags are those of the Bitlink's own group
(`list_bitlink_group_tags`: the link's `references.group`, then that group's tags). The
webhook actions name no organization, so their webhooks are those of every organization the
user belongs to (`list_all_webhooks`).
"""

from __future__ import annotations

from typing import Any

from connector import errors as E
from connector.runner import HandlerContext

__all__ = ["list_all_webhooks", "list_bitlink_group_tags"]


def _last_segment(url: Any) -> str | None:
    if not isinstance(url, str) or not url.strip("/"):
        return None
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or None


async def list_bitlink_group_tags(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    link = await ctx.request(
        "GET", "/bitlinks/{bitlink}", path_params={"bitlink": inputs["bitlink"]}
    )
    refs = link.get("references") if isinstance(link, dict) else None
    group = _last_segment(refs.get("group") if isinstance(refs, dict) else None)
    if group is None:
        raise E.FatalError(
            f"Bitly's answer for {inputs['bitlink']} names no group (references.group)",
            where=ctx.action_id,
        )
    body = await ctx.request("GET", "/groups/{group_guid}/tags", path_params={"group_guid": group})
    tags = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(tags, list):
        raise E.FatalError(f"the tags of group {group} came without a list", where=ctx.action_id)
    return {"group_guid": group, "tags": tags}


async def list_all_webhooks(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    body = await ctx.request("GET", "/organizations")
    orgs = body.get("organizations") if isinstance(body, dict) else None
    if not isinstance(orgs, list):
        raise E.FatalError("Bitly's organizations came without a list", where=ctx.action_id)
    webhooks: list[Any] = []
    for org in orgs:
        guid = org.get("guid") if isinstance(org, dict) else None
        if not isinstance(guid, str) or not guid:
            continue
        found = await ctx.request(
            "GET",
            "/organizations/{organization_guid}/webhooks",
            path_params={"organization_guid": guid},
        )
        listed = found.get("webhooks") if isinstance(found, dict) else None
        webhooks.extend(w for w in listed or [] if isinstance(w, dict))
    return {"webhooks": webhooks}
