"""embedded_sandboxes: both servers on loopback with demo data, credentials and counts."""

from __future__ import annotations

import re

import httpx

from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SHORTEN_KEY
from connector.sandbox.controls import Controls, Limits
from connector.sandbox.embedded import embedded_sandboxes


def test_both_sandboxes_answer_with_demo_data() -> None:
    with embedded_sandboxes(controls=Controls(limits=Limits(per_minute=100))) as boxes:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v4", boxes.base_urls["bitly"])
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", boxes.base_urls["shorten_dev"])
        assert boxes.credentials == {"bitly": DEMO_BITLY_TOKEN, "shorten_dev": DEMO_SHORTEN_KEY}
        bitly = httpx.get(
            boxes.base_urls["bitly"] + "/groups/Bdemo000001/bitlinks",
            headers={"Authorization": f"Bearer {DEMO_BITLY_TOKEN}"},
        )
        assert bitly.status_code == 200 and bitly.json()["links"]
        links = httpx.get(
            boxes.base_urls["shorten_dev"] + "/links",
            headers={"Authorization": f"Bearer {DEMO_SHORTEN_KEY}"},
        )
        assert links.status_code == 200 and links.json()["total"] > 0
        slug = next(x["slug"] for x in links.json()["data"] if x["status"] == "active")
        redirect = httpx.get(f"{boxes.roots['shorten_dev']}/{slug}")
        assert redirect.status_code == 302
        assert boxes.apps["bitly"].state.counts["GET /v4/groups/{group_guid}/bitlinks"] == 1
        assert boxes.apps["shorten_dev"].state.counts == {
            "GET /api/v1/links": 1,
            "GET /{slug}": 1,
        }
    # stopped: the port no longer answers
    try:
        httpx.get(boxes.base_urls["bitly"] + "/user", timeout=1)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the Bitly sandbox still answers after the block")
