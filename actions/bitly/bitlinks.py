"""Bitlink write checks: what a delete whose answer was lost did.

A delete sent again after a lost answer is answered 404 when the first one landed, which
would report a done delete as a failure. `reconcile_delete` reads the Bitlink instead: gone
means deleted (the delete's own output), still there means not applied (send it again).
"""

from __future__ import annotations

from typing import Any

from connector import errors as E
from connector.runner import HandlerContext

__all__ = ["reconcile_delete"]


async def reconcile_delete(ctx: HandlerContext, inputs: dict[str, Any]) -> Any | None:
    bitlink = inputs["bitlink"]
    try:
        await ctx.request("GET", "/bitlinks/{bitlink}", path_params={"bitlink": bitlink})
    except (E.NotFound, E.Gone):
        return {"links_deleted": [{"id": bitlink}]}
    return None
