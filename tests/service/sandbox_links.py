"""New links in the demo group of a test's Bitly sandbox, as a user's other tools make them."""

from __future__ import annotations

import httpx

from connector.sandbox.embedded import EmbeddedSandboxes

GROUP = "Bdemo000001"


def create_links(boxes: EmbeddedSandboxes, count: int, tag: str) -> list[str]:
    """`count` new links in the group, created through the API, in order; their ids."""
    headers = {"Authorization": f"Bearer {boxes.credentials['bitly']}"}
    ids = []
    with httpx.Client(base_url=boxes.base_urls["bitly"], headers=headers) as client:
        for i in range(count):
            body = {"long_url": f"https://example.com/{tag}/{i}", "group_guid": GROUP}
            answer = client.post("/bitlinks", json=body)
            assert answer.status_code in (200, 201), answer.text
            ids.append(answer.json()["id"])
    return ids
