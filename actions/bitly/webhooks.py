"""Bitly's webhooks: bitly.delete_webhook's answer, and the Link Clicked webhook trigger.

bitly.delete_webhook: Bitly answers a deletion with 204 and no body; a workflow gets what
was deleted, so a later step can say so.

    {"webhook_guid": "W1234567890", "deleted": true}

bitly.link_clicked (a `type: webhook` trigger): enabling it subscribes the service's hook
URL with POST /webhooks (through bitly.create_webhook, so a lost answer is read back rather
than sent twice); disabling deletes that webhook. Each delivery is parsed into a typed
event; Bitly retries a delivery up to five times with the same `event_id`, which the
receiver de-duplicates on (`trigger.event_id` in the manifest).
"""

from __future__ import annotations

import contextlib
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError

from connector import errors as E
from connector.runner import HandlerContext
from connector.triggers.poll import run_action
from connector.triggers.webhook import delivery

__all__ = [
    "LinkClicked",
    "delete_webhook",
    "link_clicked",
    "subscribe_link_clicked",
    "unsubscribe_link_clicked",
]

#: the name of the webhooks the service creates (with the hook URL, it finds a lost create)
WEBHOOK_NAME = "connector: Link Clicked"


async def delete_webhook(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    guid = inputs["webhook_guid"]
    await ctx.request("DELETE", "/webhooks/{webhook_guid}", path_params={"webhook_guid": guid})
    return {"webhook_guid": guid, "deleted": True}


_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def _timestamp(value: str) -> str:
    if not _TIMESTAMP.match(value):
        raise ValueError("must be a date and time with its offset, e.g. 2026-04-15T12:00:00+0000")
    return value


Id = Annotated[str, Strict(), Field(min_length=1, max_length=200)]
Text = Annotated[str, Strict(), Field(max_length=4096)]


class LinkClicked(BaseModel):
    """One click, as a Bitly webhook delivers it. Fields Bitly adds later are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: Id
    datetime: Annotated[str, Strict(), AfterValidator(_timestamp)]
    bitlink: Id
    url: Text = ""
    passed_params: Text = ""
    country: Text = ""
    referrer: Text = ""
    device_type: Text = ""
    webhook_guid: Text = ""
    organization_guid: Text = ""
    group_guid: Text = ""
    references: Any = None


async def link_clicked(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    """The event of one delivery; InvalidInput naming the field when it is malformed."""
    payload = delivery(ctx)
    if not isinstance(payload, dict):
        raise E.InvalidInput(
            f"the delivery is not a JSON object (got {type(payload).__name__})",
            where=ctx.action_id,
        )
    try:
        event = LinkClicked.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        got = "" if first["type"] == "missing" else f" (got {str(first.get('input'))[:60]!r})"
        raise E.InvalidInput(
            f"the delivery's field '{field}': {first['msg'].removeprefix('Value error, ')}{got}",
            where=ctx.action_id,
        ) from None
    return event.model_dump(exclude_none=True)


async def subscribe_link_clicked(
    ctx: HandlerContext, inputs: dict[str, Any], url: str
) -> dict[str, Any]:
    """Create the webhook sending the organization's (or the group's) clicks to `url`."""
    raw = {
        "organization_guid": inputs["organization_guid"],
        "name": WEBHOOK_NAME,
        "url": url,
        "event": "bitlink_click",
        "is_active": True,
    }
    if inputs.get("group_guid"):
        raw["group_guid"] = inputs["group_guid"]
    runner = ctx.runner
    if runner is None:
        raise E.InvalidConfiguration("subscribing needs the ActionRunner", where=ctx.action_id)
    try:
        hook = await run_action(ctx, "bitly.create_webhook", raw)
    except E.ActionError as exc:
        if exc.write_applied is False:
            raise
        # The answer was lost: Bitly may have created it. Found by name and URL, or None.
        prepared = runner.catalog.prepare_inputs("bitly.create_webhook", raw, {})
        hook = await runner.reconcile("bitly.create_webhook", prepared)
        if hook is None:
            raise
    return {"webhook_guid": hook["guid"]}


async def unsubscribe_link_clicked(
    ctx: HandlerContext, inputs: dict[str, Any], subscription: dict[str, Any]
) -> None:
    """Delete the webhook; one already gone counts as deleted."""
    with contextlib.suppress(E.NotFound):
        await run_action(
            ctx, "bitly.delete_webhook", {"webhook_guid": subscription["webhook_guid"]}
        )
