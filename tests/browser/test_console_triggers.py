"""The console's Triggers page in Debian's Chromium: a saved polling workflow and a Bitly Link
Clicked one, enabled and disabled with their buttons (plain forms, the page's CSP allows no
script); the webhook's URL is shown once and its Bitly webhook created, then deleted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector.sandbox.embedded import EmbeddedSandboxes

from .conftest import KEY

pytestmark = pytest.mark.slow

PUBLIC = "https://connector.example.com"


def _saved(api: httpx.Client, trigger: dict[str, Any]) -> str:
    workflow = {
        "name": "Triggered",
        "trigger": trigger,
        "steps": [{"id": "link", "action": "bitly.get_bitlink",
                   "inputs": {"bitlink": "{{ trigger.bitlink }}"}}],
    }  # fmt: skip
    answer = api.post("/v1/workflows", json={"workflow": workflow})
    assert answer.status_code == 201, answer.text
    workflow_id: str = answer.json()["workflow_id"]
    return workflow_id


def _hooks(boxes: EmbeddedSandboxes) -> dict[str, int]:
    """The sandbox's Bitly webhooks: guid -> deleted."""
    store = boxes.apps["bitly"].state.store
    with store.lock:
        rows = store.conn.execute("SELECT guid, deleted FROM webhooks").fetchall()
    return {r["guid"]: r["deleted"] for r in rows}


def test_enable_and_disable_triggers_with_the_buttons(
    served: tuple[str, EmbeddedSandboxes], console: Any
) -> None:
    url, boxes = served
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"})
    poll = {"action": "bitly.new_bitlink", "inputs": {"group_guid": "Bdemo000001"}}
    poll_id = _saved(api, {"poll": poll | {"interval": 60}})
    hook = {"action": "bitly.link_clicked", "inputs": {"organization_guid": "Odemo000001"}}
    hook_id = _saved(api, {"webhook": hook})
    before = _hooks(boxes)
    page = console
    page.get_by_role("link", name="Triggers").click()
    page.wait_for_selector("table#triggers")

    def row(workflow_id: str) -> Any:
        return page.locator(f"tr[data-workflow-id='{workflow_id}']")

    assert "never enabled" in row(poll_id).inner_text()
    row(poll_id).get_by_role("button", name="Enable").click()
    page.wait_for_selector("p.notice")
    assert f"Enabled {poll_id}" in page.locator("p.notice").inner_text()
    assert "enabled" in row(poll_id).inner_text().split()
    assert api.get(f"/v1/workflows/{poll_id}/trigger").json()["enabled"] is True

    row(hook_id).locator("input[name=public_url]").fill(PUBLIC)
    row(hook_id).get_by_role("button", name="Enable").click()
    page.wait_for_selector("#hook-url")
    hook_url = page.locator("#hook-url").inner_text()
    assert hook_url.startswith(f"{PUBLIC}/v1/hooks/hk_")
    (guid,) = set(_hooks(boxes)) - set(before)
    assert _hooks(boxes)[guid] == 0

    row(hook_id).get_by_role("button", name="Disable").click()
    page.wait_for_url("**/triggers?notice=*")
    assert f"Disabled {hook_id}" in page.locator("p.notice").inner_text()
    assert _hooks(boxes)[guid] == 1
    assert hook_url.rsplit(".", 1)[1] not in page.content()
    row(poll_id).get_by_role("button", name="Disable").click()
    page.wait_for_url("**/triggers?notice=*")
    assert "disabled" in row(poll_id).inner_text().split()
    assert api.get(f"/v1/workflows/{poll_id}/trigger").json()["enabled"] is False
    api.close()
