"""What Bitly would POST to each active `bitlink_click` webhook: one delivery per recorded
click on a link the webhook covers (its group, or every group of the organization).

The sandbox does not call out (it has no business reaching arbitrary URLs); a test reads the
deliveries here and sends them, as often and as concurrently as Bitly's retries would.
A delivery's `event_id` depends only on the webhook and the click, so a retry repeats it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connector.sandbox.bitly.formats import bitly_time, derived_token
from connector.sandbox.bitly.store import Store

__all__ = ["Delivery", "click_deliveries"]


@dataclass(frozen=True)
class Delivery:
    webhook_guid: str
    url: str
    payload: dict[str, Any]


def click_deliveries(store: Store, *, after_click: int = 0) -> list[Delivery]:
    """Deliveries of the clicks recorded after click id `after_click`, oldest first."""
    with store.lock:
        hooks = [
            json.loads(row["body"])
            for row in store.conn.execute("SELECT body FROM webhooks WHERE deleted = 0")
        ]
        clicks = store.conn.execute(
            "SELECT c.id, c.ts, c.country, c.device, c.referrer, l.key, l.long_url, l.group_guid"
            " FROM clicks c JOIN links l ON l.key = c.link_key WHERE c.id > ? ORDER BY c.id",
            (after_click,),
        ).fetchall()
    out = []
    for click in clicks:
        for hook in hooks:
            if not hook.get("is_active") or hook.get("event") != "bitlink_click":
                continue
            if hook.get("group_guid") and hook["group_guid"] != click["group_guid"]:
                continue
            payload = {
                "event_id": derived_token(f"{hook['guid']}:{click['id']}", 20),
                "datetime": bitly_time(click["ts"]),
                "url": click["long_url"],
                "bitlink": click["key"],
                "passed_params": "",
                "country": click["country"],
                "referrer": click["referrer"],
                "device_type": click["device"],
                "webhook_guid": hook["guid"],
                "organization_guid": hook["organization_guid"],
                "group_guid": click["group_guid"],
                "references": {},
            }
            out.append(Delivery(hook["guid"], hook["url"], payload))
    return out
