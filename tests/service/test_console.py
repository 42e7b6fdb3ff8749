"""The console in-process: sign-in with an API key, CSRF-safe forms, runs by status, a run's
page with its items, attempts and Retry button; and no credential anywhere it shows."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.sandbox.controls import Faults
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig

from .helpers import AUTH, FAILING, KEY, METRICS, client_for, faults_on, wait_idle, weekly_report

TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the page has a CSRF field"
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient) -> str:
    page = await client.get("/")
    assert 'type="password"' in page.text and 'name="api_key"' in page.text
    wrong = await client.post("/signin", data={"api_key": "nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    signed = await client.post("/signin", data={"api_key": KEY})
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return _csrf((await client.get("/")).text)


def test_console_shows_a_failed_run_and_retries_it_once(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    async def go() -> list[str]:
        shown: list[str] = []
        async with client_for(config) as client:
            unsigned = await client.get("/runs/anything")
            assert unsigned.status_code == 303
            csrf = await _sign_in(client)
            faults_on(boxes, "bitly", Faults(fail_paths=FAILING))
            body = {"workflow": weekly_report(), "trigger": TRIGGER}
            run_id = (await client.post("/v1/runs", json=body, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            listing = (await client.get("/?status=failed")).text
            shown.append(listing)
            assert run_id in listing
            assert run_id not in (await client.get("/?status=succeeded")).text
            page = (await client.get(f"/runs/{run_id}")).text
            shown.append(page)
            assert ">Retry</button>" in page and "failed" in page
            assert "waited" in page and "HTTP 50" in page, "attempts with their waits"
            faults_on(boxes, "bitly", Faults())
            forged = await client.post(f"/runs/{run_id}/retry", data={"csrf": "forged"})
            assert forged.status_code == 403
            assert (await client.get("/?status=running")).text.count("data-run-id") == 0
            before = boxes.apps["bitly"].state.counts[METRICS]
            retried = await client.post(f"/runs/{run_id}/retry", data={"csrf": csrf})
            assert retried.status_code == 303
            child_url = retried.headers["location"]
            await wait_idle(client)
            child = (await client.get(child_url)).text
            shown.append(child)
            assert 'id="run-status" class="status-succeeded"' in child and run_id in child
            api = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            loop = next(s for s in api["steps"] if s["step_id"] == "metrics")
            failed = loop["items"]["counts"]["failed"]
            assert boxes.apps["bitly"].state.counts[METRICS] - before == failed
            again = await client.post(f"/runs/{run_id}/retry", data={"csrf": csrf})
            assert again.status_code == 303 and again.headers["location"].startswith(child_url)
            signed_out = await client.post("/signout", data={"csrf": csrf})
            assert signed_out.status_code == 303
            assert 'name="api_key"' in (await client.get("/")).text
        return shown

    pages = asyncio.run(go())
    assert len(pages) == 3


def test_no_credential_in_any_response_page_log_or_file(
    config: ServiceConfig,
    boxes: EmbeddedSandboxes,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    secrets = [KEY, *boxes.credentials.values()]
    caplog.set_level(logging.DEBUG)
    bodies: list[bytes] = []

    async def go() -> None:
        async with client_for(config) as client:

            async def keep(response: httpx.Response) -> None:
                await response.aread()
                bodies.append(response.content + str(response.headers).encode())

            client.event_hooks["response"] = [keep]
            await _sign_in(client)
            token = boxes.credentials["bitly"]
            # a token pasted where a value goes: masked in the preview, the run and the log
            preview = {"inputs": {"bitlink": f"bit.ly/{token}"}, "context": {}}
            await client.post("/v1/actions/bitly.get_bitlink/preview", json=preview, headers=AUTH)
            await client.post("/v1/actions/bitly.get_bitlink/test", json=preview, headers=AUTH)
            await client.post(
                "/v1/actions/bitly.list_group_bitlinks/test",
                json={"inputs": {"group_guid": "Bdemo000001"}},
                headers=AUTH,
            )
            faults_on(boxes, "bitly", Faults(fail_paths=FAILING))
            trigger = TRIGGER | {"note": f"key {KEY} token {token}"}
            body: dict[str, Any] = {"workflow": weekly_report(), "trigger": trigger}
            run_id = (await client.post("/v1/runs", json=body, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            await client.get(f"/v1/runs/{run_id}", headers=AUTH)
            await client.get("/v1/runs", headers=AUTH)
            await client.get(f"/runs/{run_id}")
            await client.get("/")
            await client.post("/v1/workflows", json={"workflow": weekly_report()}, headers=AUTH)
            await client.get("/v1/workflows", headers=AUTH)
            await client.post("/v1/runs", json={"workflow": {"name": token}}, headers=AUTH)

    asyncio.run(go())
    assert len(bodies) >= 12
    files = [p.read_bytes() for p in config.home.rglob("*") if p.is_file()]
    assert files, "the run log and the store were written"
    logs = caplog.text.encode()
    for secret in secrets:
        for where, blobs in (("response", bodies), ("file", files), ("log", [logs])):
            for blob in blobs:
                assert secret.encode() not in blob, f"a credential in a {where}"
