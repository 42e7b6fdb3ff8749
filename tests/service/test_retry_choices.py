"""Retry of chosen items only, retry with the saved workflow's current version, and the
options endpoint (one code path with `connector catalog options`)."""

from __future__ import annotations

import asyncio
from typing import Any

from connector.catalog.options import PAGE_SIZE
from connector.sandbox.controls import Faults
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig

from .helpers import AUTH, FAILING, METRICS, client_for, faults_on, wait_idle, weekly_report

TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}


def _loop(run: dict[str, Any]) -> dict[str, Any]:
    loop: dict[str, Any] = next(s for s in run["steps"] if s["step_id"] == "metrics")
    return loop


def test_retry_of_chosen_items_reruns_those_only(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            faults_on(boxes, "bitly", Faults(fail_paths=FAILING))
            body = {"workflow": weekly_report(max_attempts=1), "trigger": TRIGGER}
            run_id = (await client.post("/v1/runs", json=body, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            run = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            failed = [i["index"] for i in _loop(run)["items"]["items"] if i["status"] == "failed"]
            ok = [i["index"] for i in _loop(run)["items"]["items"] if i["status"] == "succeeded"]
            assert len(failed) == 2 and len(ok) == 6, run
            faults_on(boxes, "bitly", Faults())
            counts = boxes.apps["bitly"].state.counts
            url = f"/v1/runs/{run_id}/retry"
            for bad in (["metrics[999]"], [f"metrics[{ok[0]}]"], ["nope[1]"], ["metrics"]):
                answer = await client.post(url, json={"items": bad}, headers=AUTH)
                assert answer.status_code == 422, answer.text
                assert answer.json()["errors"][0]["field"] == "body.items"
            before = counts[METRICS]
            chosen = {"items": [f"metrics[{failed[0]}]"]}
            child = (await client.post(url, json=chosen, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            assert counts[METRICS] - before == 1, "only the chosen item was re-requested"
            done = (await client.get(f"/v1/runs/{child}", headers=AUTH)).json()
            # the others were carried over as they were: the loop still has failed items
            assert done["status"] == "failed", done
            items = {i["index"]: i for i in _loop(done)["items"]["items"]}
            assert items[failed[0]]["status"] == "succeeded" and not items[failed[0]]["reused_from"]
            for index in failed[1:]:
                assert items[index]["status"] == "failed" and items[index]["reused_from"] == run_id
            assert _loop(done)["summary"]["failed"] == len(failed) - 1
            # and the rest, later, from the child
            grandchild = (await client.post(f"/v1/runs/{child}/retry", headers=AUTH)).json()[
                "run_id"
            ]
            await wait_idle(client)
            last = (await client.get(f"/v1/runs/{grandchild}", headers=AUTH)).json()
            assert last["status"] == "succeeded"
            assert counts[METRICS] - before == len(failed)
            listed = await client.get("/v1/runs", params={"parent_run_id": child}, headers=AUTH)
            assert [r["run_id"] for r in listed.json()["runs"]] == [grandchild]
            named = {"workflow": "Weekly campaign report", "status": "failed"}
            listed = await client.get("/v1/runs", params=named, headers=AUTH)
            assert [r["run_id"] for r in listed.json()["runs"]] == [child, run_id]
            other = await client.get("/v1/runs", params={"workflow": "other"}, headers=AUTH)
            assert other.json()["runs"] == []

    asyncio.run(go())


def test_retry_with_the_current_version_of_a_saved_workflow(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            broken = weekly_report(max_attempts=1)
            broken["output"] = {"total": "{{ steps.metrics.output.nope }}"}
            saved = await client.post("/v1/workflows", json={"workflow": broken}, headers=AUTH)
            wid = saved.json()["workflow_id"]
            body = {"workflow_id": wid, "trigger": TRIGGER}
            run_id = (await client.post("/v1/runs", json=body, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            run = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            assert run["status"] == "failed" and run["failed_step"] == "output", run
            fixed = weekly_report(max_attempts=1)
            await client.put(f"/v1/workflows/{wid}", json={"workflow": fixed}, headers=AUTH)
            before = boxes.apps["bitly"].state.counts[METRICS]
            url = f"/v1/runs/{run_id}/retry"
            child = await client.post(url, json={"version": "current"}, headers=AUTH)
            assert child.status_code == 202, child.text
            await wait_idle(client)
            done = (await client.get(f"/v1/runs/{child.json()['run_id']}", headers=AUTH)).json()
            assert done["status"] == "succeeded" and done["output"]["total_clicks"] > 0, done
            # the steps were unchanged: reused, nothing re-requested
            assert boxes.apps["bitly"].state.counts[METRICS] == before
            inline = {"workflow": broken, "trigger": TRIGGER}
            other = (await client.post("/v1/runs", json=inline, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            refused = await client.post(
                f"/v1/runs/{other}/retry", json={"version": "current"}, headers=AUTH
            )
            assert refused.status_code == 409 and "saved workflow" in refused.json()["detail"]

    asyncio.run(go())


def test_options_pages_search_and_problems(config: ServiceConfig, boxes: EmbeddedSandboxes) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            url = "/v1/actions/bitly.create_bitlink/options/group_guid"
            page = await client.post(url, json={}, headers=AUTH)
            assert page.status_code == 200, page.text
            doc = page.json()
            assert doc["options"] and set(doc["options"][0]) == {"label", "value"}
            assert doc["cursor"] is None or len(doc["options"]) == PAGE_SIZE
            label = doc["options"][0]["label"]
            found = (await client.post(url, json={"search": label}, headers=AUTH)).json()
            assert label in [o["label"] for o in found["options"]]
            bad_cursor = await client.post(url, json={"cursor": "x"}, headers=AUTH)
            assert bad_cursor.status_code == 422
            assert bad_cursor.json()["errors"][0]["field"] == "body.cursor"
            no_input = await client.post(
                "/v1/actions/bitly.create_bitlink/options/nope", json={}, headers=AUTH
            )
            assert no_input.status_code == 404 and "nope" in no_input.json()["detail"]
            fixed = await client.post(
                "/v1/actions/bitly.create_bitlink/options/long_url", json={}, headers=AUTH
            )
            assert fixed.status_code == 404
            # the API failing is a problem with its error, never an empty list
            faults_on(boxes, "bitly", Faults(error_rate=1.0))
            failed = await client.post(url, json={}, headers=AUTH)
            assert failed.status_code == 502, failed.text
            assert failed.json()["error"]["type"] == "ServerError"
            assert "options" not in failed.json()
            await wait_idle(client)

    asyncio.run(go())
