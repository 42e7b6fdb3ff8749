"""bitly.delete_webhook: Bitly answers a deletion with 204 and no body; a workflow gets what
was deleted, so a later step can say so.

Output:
    {"webhook_guid": "W1234567890", "deleted": true}
"""

from __future__ import annotations

from typing import Any

from connector.runner import HandlerContext

__all__ = ["delete_webhook"]


async def delete_webhook(ctx: HandlerContext, inputs: dict[str, Any]) -> dict[str, Any]:
    guid = inputs["webhook_guid"]
    await ctx.request("DELETE", "/webhooks/{webhook_guid}", path_params={"webhook_guid": guid})
    return {"webhook_guid": guid, "deleted": True}
