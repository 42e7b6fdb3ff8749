"""The console's Triggers page switches triggers on and off: Enable and Disable buttons that
post CSRF-checked forms (no JavaScript), through the same runtime as the API; a webhook's
URL shown once; a refusal (Bitly refusing the subscription) shown on the page."""

from __future__ import annotations

import base64
import re
from dataclasses import replace

import httpx

from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig
from connector.service.secret_box import SECRET_KEY_ENV, SecretBox

from .helpers import AUTH, KEY, client_for
from .test_triggers import ORG, PUBLIC, _poll_workflow, _run, _save, _workflow


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has a CSRF field"
    return found.group(1)


def _row(page: str, workflow_id: str) -> str:
    found = re.search(rf'<tr data-workflow-id="{workflow_id}">(.*?)</tr>', page, re.S)
    assert found, f"{workflow_id} is listed"
    return found.group(1)


async def _trigger(client: httpx.AsyncClient, workflow_id: str) -> httpx.Response:
    return await client.get(f"/v1/workflows/{workflow_id}/trigger", headers=AUTH)


def _webhook_at_sandbox(boxes: EmbeddedSandboxes, url: str) -> tuple[str, int] | None:
    store = boxes.apps["bitly"].state.store
    with store.lock:
        rows = store.conn.execute("SELECT guid, body, deleted FROM webhooks").fetchall()
    found = [(r["guid"], r["deleted"]) for r in rows if url in r["body"]]
    return found[0] if found else None


def test_the_triggers_page_enables_and_disables_with_buttons(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            poll_id = await _save(client, _poll_workflow())
            trigger = {"webhook": {"action": "bitly.link_clicked",
                                   "inputs": {"organization_guid": ORG}}}  # fmt: skip
            hook_id = await _save(client, _workflow(trigger, "{{ trigger.bitlink }}"))
            assert (await client.post(f"/triggers/{poll_id}/enable")).status_code == 403
            assert (await client.post("/signin", data={"api_key": KEY})).status_code == 303
            page = (await client.get("/triggers")).text
            csrf = _csrf(page)
            for workflow_id in (poll_id, hook_id):  # saved, never enabled: an Enable button
                row = _row(page, workflow_id)
                assert "never enabled" in row and f'action="/triggers/{workflow_id}/enable"' in row
                assert ">Enable</button>" in row
            assert 'name="public_url"' in _row(page, hook_id)

            forged = await client.post(f"/triggers/{poll_id}/enable", data={"csrf": "forged"})
            assert forged.status_code == 403 and "expired" in forged.text
            assert (await _trigger(client, poll_id)).status_code == 404

            enabled = await client.post(f"/triggers/{poll_id}/enable", data={"csrf": csrf})
            assert enabled.status_code == 303
            page = (await client.get(enabled.headers["location"])).text
            assert f"Enabled {poll_id} (version 1)." in page
            row = _row(page, poll_id)
            assert ">enabled<" in row and ">Disable</button>" in row
            assert (await _trigger(client, poll_id)).json()["enabled"] is True

            # a webhook: subscribed at the sandbox, its URL (with its secret) shown once
            answer = await client.post(
                f"/triggers/{hook_id}/enable", data={"csrf": csrf, "public_url": PUBLIC}
            )
            assert answer.status_code == 200, answer.text
            url = re.search(r'<code id="hook-url">([^<]+)</code>', answer.text)
            assert url and url.group(1).startswith(f"{PUBLIC}/v1/hooks/hk_")
            secret = url.group(1).rsplit(".", 1)[1]
            guid_deleted = _webhook_at_sandbox(boxes, url.group(1))
            assert guid_deleted is not None and guid_deleted[1] == 0
            later = (await client.get("/triggers")).text
            assert secret not in later and "(subscribed)" in _row(later, hook_id)

            disabled = await client.post(f"/triggers/{hook_id}/disable", data={"csrf": csrf})
            assert disabled.status_code == 303
            page = (await client.get(disabled.headers["location"])).text
            assert f"Disabled {hook_id}." in page and ">disabled<" in _row(page, hook_id)
            assert _webhook_at_sandbox(boxes, url.group(1)) == (guid_deleted[0], 1)
            view = (await _trigger(client, hook_id)).json()
            assert view["enabled"] is False and view["subscription"] is None

            off = await client.post(f"/triggers/{poll_id}/disable", data={"csrf": csrf})
            assert off.status_code == 303
            assert (await _trigger(client, poll_id)).json()["enabled"] is False
            again = await client.post(f"/triggers/{poll_id}/enable", data={"csrf": csrf})
            assert again.status_code == 303
            assert (await _trigger(client, poll_id)).json()["enabled"] is True

    _run(go())


def test_re_enabling_keeps_the_triggers_connection(config: ServiceConfig) -> None:
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    sealed = replace(config, secret_box=SecretBox.from_env({SECRET_KEY_ENV: key}))

    async def go() -> None:
        async with client_for(sealed) as client:
            body = {"name": "main", "app": "bitly", "credential": config.credentials["bitly"]}
            saved = await client.post("/v1/connections", json=body, headers=AUTH)
            assert saved.is_success, saved.text
            poll_id = await _save(client, _poll_workflow())
            path = f"/v1/workflows/{poll_id}"
            on = await client.post(f"{path}/enable", json={"connection": "main"}, headers=AUTH)
            assert on.json()["connection"] == ["main"]
            assert (await client.post(f"{path}/disable", headers=AUTH)).status_code == 200
            assert (await client.post("/signin", data={"api_key": KEY})).status_code == 303
            csrf = _csrf((await client.get("/triggers")).text)
            again = await client.post(f"/triggers/{poll_id}/enable", data={"csrf": csrf})
            assert again.status_code == 303
            view = (await _trigger(client, poll_id)).json()
            assert view["enabled"] is True and view["connection"] == ["main"]

    _run(go())


def test_a_refused_enable_or_disable_is_shown_on_the_page(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            trigger = {"webhook": {"action": "bitly.link_clicked",
                                   "inputs": {"organization_guid": "Onope000001"}}}  # fmt: skip
            hook_id = await _save(client, _workflow(trigger, "{{ trigger.bitlink }}"))
            assert (await client.post("/signin", data={"api_key": KEY})).status_code == 303
            csrf = _csrf((await client.get("/triggers")).text)

            refused = await client.post(
                f"/triggers/{hook_id}/enable", data={"csrf": csrf, "public_url": PUBLIC}
            )
            assert refused.status_code == 502, refused.text
            alert = re.search(r'<p class="error" role="alert">([^<]+)</p>', refused.text)
            assert alert, refused.text
            message = alert.group(1)
            assert f"Could not enable {hook_id}: subscribing bitly.link_clicked" in message
            assert "organization_guid" in message, message
            assert 'id="hook-url"' not in refused.text
            assert ">Enable</button>" in _row(refused.text, hook_id)
            assert (await _trigger(client, hook_id)).status_code == 404  # nothing enabled

            bad_url = await client.post(
                f"/triggers/{hook_id}/enable", data={"csrf": csrf, "public_url": "ftp://x y"}
            )
            assert bad_url.status_code == 422 and "public_url" in bad_url.text

            never = await client.post(f"/triggers/{hook_id}/disable", data={"csrf": csrf})
            assert never.status_code == 404 and "has no trigger enabled" in never.text
            unknown = await client.post("/triggers/wf_nope/enable", data={"csrf": csrf})
            assert unknown.status_code == 404 and "no saved workflow" in unknown.text

    _run(go())
