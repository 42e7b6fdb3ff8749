"""The HTTP API in-process: auth, problems, catalog, preview, test step, runs and retry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from connector.catalog.export import export_catalog
from connector.sandbox.controls import Faults
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig

from .helpers import AUTH, FAILING, KEY, METRICS, client_for, faults_on, wait_idle, weekly_report

JSON = {"content-type": "application/json"}
TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _is_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status and doc["title"] and doc["detail"] and doc["type"]
    if field is not None:
        assert field in [e["field"] for e in doc["errors"]], doc
    return doc


def test_health_is_open_and_every_v1_endpoint_needs_a_key(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            for method, path in [
                ("GET", "/v1/catalog"),
                ("GET", "/v1/actions/bitly.get_bitlink"),
                ("POST", "/v1/actions/bitly.get_bitlink/preview"),
                ("POST", "/v1/actions/bitly.get_bitlink/test"),
                ("GET", "/v1/runs"),
                ("POST", "/v1/runs"),
                ("GET", "/v1/runs/x"),
                ("POST", "/v1/runs/x/retry"),
                ("GET", "/v1/workflows"),
            ]:
                missing = await client.request(method, path, json={})
                assert _is_problem(missing, 401)["detail"].startswith("an API key is required")
                wrong = await client.request(
                    method, path, json={}, headers={"X-API-Key": KEY[:-1] + "X"}
                )
                _is_problem(wrong, 401)
            assert (await client.get("/v1/catalog", headers={"X-API-Key": KEY})).status_code == 200
            assert (await client.get("/v1/catalog", headers=AUTH)).status_code == 200

    _run(go())


def test_catalog_is_the_builder_export_and_actions_by_id(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            catalog = (await client.get("/v1/catalog", headers=AUTH)).json()
            assert catalog == export_catalog(client.app.state.service.catalog)  # type: ignore[attr-defined]
            action = (await client.get("/v1/actions/bitly.create_bitlink", headers=AUTH)).json()
            assert action["id"] == "bitly.create_bitlink" and action["inputs"]["properties"]
            missing = await client.get("/v1/actions/bitly.nope", headers=AUTH)
            assert "bitly.nope" in _is_problem(missing, 404)["detail"]

    _run(go())


def test_preview_resolves_coerces_and_lists_every_field_error_without_a_request(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            url = "/v1/actions/bitly.get_link_click_metrics/preview"
            body = {
                "inputs": {"bitlink": "{{ item.id }}", "unit": "day", "units": "{{ days }}"},
                "context": {"item": {"id": "bit.ly/abc"}, "days": "7"},
            }
            ok = (await client.post(url, json=body, headers=AUTH)).json()
            assert ok["ok"] is True and ok["errors"] == []
            assert ok["inputs"]["bitlink"] == "bit.ly/abc" and ok["inputs"]["units"] == 7
            bad = {
                "inputs": {"bitlink": "{{ item.nope }}", "unit": "fortnight", "units": "x"},
                "context": {"item": {"id": "bit.ly/abc"}},
            }
            doc = (await client.post(url, json=bad, headers=AUTH)).json()
            assert doc["ok"] is False
            fields = {e["field"]: e["message"] for e in doc["errors"]}
            assert set(fields) == {"inputs.bitlink", "inputs.unit", "inputs.units"}, doc
            assert "nope" in fields["inputs.bitlink"] and "id" in fields["inputs.bitlink"]

    before = sum(sum(app.state.counts.values()) for app in boxes.apps.values())
    _run(go())
    after = sum(sum(app.state.counts.values()) for app in boxes.apps.values())
    assert after == before, "a preview sends nothing"


def test_test_step_runs_once_and_keeps_the_sample(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            store = client.app.state.service.store  # type: ignore[attr-defined]
            body = {"inputs": {"group_guid": "Bdemo000001"}, "workflow_id": "wf_1"}
            url = "/v1/actions/bitly.list_group_bitlinks/test"
            done = (await client.post(url, json=body, headers=AUTH)).json()
            assert done["ok"] is True and done["sample_saved"] and done["output"]["links"]
            assert store.sample("bitly.list_group_bitlinks", "wf_1")["result"]["output"]
            missing = {"inputs": {"bitlink": "bit.ly/doesnotexist"}}
            url = "/v1/actions/bitly.get_bitlink/test"
            failed = (await client.post(url, json=missing, headers=AUTH)).json()
            assert failed["ok"] is False and failed["error"]["type"] == "NotFound", failed
            assert store.sample("bitly.get_bitlink", None)["result"]["error"] == failed["error"]
            invalid = await client.post(url, json={"inputs": {}}, headers=AUTH)
            _is_problem(invalid, 422, "inputs.bitlink")

    _run(go())


def test_runs_start_in_the_background_list_and_show(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            ids = []
            for _ in range(3):
                started = await client.post(
                    "/v1/runs", json={"workflow": weekly_report(), "trigger": TRIGGER}, headers=AUTH
                )
                assert started.status_code == 202, started.text
                ids.append(started.json()["run_id"])
            await wait_idle(client)
            run = (await client.get(f"/v1/runs/{ids[0]}", headers=AUTH)).json()
            assert run["status"] == "succeeded" and run["output"]["total_clicks"] > 0
            loop = next(s for s in run["steps"] if s["step_id"] == "metrics")
            assert loop["items"]["counts"] == {"succeeded": loop["summary"]["total"]}
            page = (await client.get(f"/v1/runs/{ids[0]}?items_limit=2", headers=AUTH)).json()
            items = next(s for s in page["steps"] if s["step_id"] == "metrics")["items"]
            assert [i["index"] for i in items["items"]] == [0, 1] and items["next_cursor"]
            more = await client.get(
                f"/v1/runs/{ids[0]}/steps/metrics/items",
                params={"cursor": items["next_cursor"], "limit": 2},
                headers=AUTH,
            )
            assert [i["index"] for i in more.json()["items"]] == [2, 3]
            listed: list[str] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 2, "status": "succeeded"}
                if cursor:
                    params["cursor"] = cursor
                page = (await client.get("/v1/runs", params=params, headers=AUTH)).json()
                listed += [r["run_id"] for r in page["runs"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert listed == ids[::-1]
            failed = await client.get("/v1/runs", params={"status": "failed"}, headers=AUTH)
            assert failed.json() == {"runs": [], "next_cursor": None}
            _is_problem(await client.get("/v1/runs/nope", headers=AUTH), 404)

    _run(go())


def test_invalid_runs_are_refused_naming_the_field(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            bad = weekly_report()
            bad["steps"][0]["action"] = "bitly.list_group_bitlink"
            answer = await client.post("/v1/runs", json={"workflow": bad}, headers=AUTH)
            doc = _is_problem(answer, 422, "body.workflow.steps.links.action")
            assert "bitly.list_group_bitlinks" in doc["detail"]
            both = {"workflow": weekly_report(), "workflow_id": "wf_x"}
            _is_problem(await client.post("/v1/runs", json=both, headers=AUTH), 422)
            trig = {"workflow": weekly_report(), "trigger": {"days": 7}}
            _is_problem(await client.post("/v1/runs", json=trig, headers=AUTH), 422, "body.trigger")
            extra = {"workflow": weekly_report(), "surprise": 1}
            answer = await client.post("/v1/runs", json=extra, headers=AUTH)
            _is_problem(answer, 422, "body.surprise")
            syntax = await client.post("/v1/runs", content=b"{not json", headers=AUTH | JSON)
            _is_problem(syntax, 422)
            form = await client.post("/v1/runs", data={"workflow": "x"}, headers=AUTH)
            assert "application/json" in _is_problem(form, 415)["detail"]
            unknown = await client.post("/v1/runs", json={"workflow_id": "wf_nope"}, headers=AUTH)
            _is_problem(unknown, 404)
            assert (await client.get("/v1/runs", headers=AUTH)).json()["runs"] == []

    _run(go())


def test_request_bodies_are_bounded(tmp_path: Path, config: ServiceConfig) -> None:
    config.max_body_bytes = 1000

    async def go() -> None:
        async with client_for(config) as client:
            big = {"workflow": {"name": "x" * 2000}}
            _is_problem(await client.post("/v1/runs", json=big, headers=AUTH), 413)

            async def chunks() -> Any:
                for _ in range(5):
                    yield b" " * 400

            streamed = await client.post("/v1/runs", content=chunks(), headers=AUTH | JSON)
            _is_problem(streamed, 413)

    _run(go())


def test_saved_workflows_are_versioned_and_run_by_id(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            first = weekly_report()
            saved = await client.post("/v1/workflows", json={"workflow": first}, headers=AUTH)
            assert saved.status_code == 201, saved.text
            wid = saved.json()["workflow_id"]
            second = weekly_report() | {"name": "Weekly report v2"}
            url = f"/v1/workflows/{wid}"
            again = await client.put(url, json={"workflow": second}, headers=AUTH)
            assert again.json()["version"] == 2
            latest = (await client.get(f"/v1/workflows/{wid}", headers=AUTH)).json()
            assert latest["version"] == 2 and latest["workflow"]["name"] == "Weekly report v2"
            old = (await client.get(f"/v1/workflows/{wid}?version=1", headers=AUTH)).json()
            assert old["workflow"]["name"] == first["name"]
            by_id = {"workflow_id": wid, "version": 1, "trigger": TRIGGER}
            started = await client.post("/v1/runs", json=by_id, headers=AUTH)
            await wait_idle(client)
            run = (await client.get(f"/v1/runs/{started.json()['run_id']}", headers=AUTH)).json()
            assert run["workflow"] == first["name"] and run["status"] == "succeeded"
            listed = (await client.get("/v1/workflows", headers=AUTH)).json()
            assert listed == [{"workflow_id": wid, "version": 2, "name": "Weekly report v2"}]
            bad = weekly_report()
            del bad["steps"]
            _is_problem(
                await client.put(f"/v1/workflows/{wid}", json={"workflow": bad}, headers=AUTH), 422
            )

    _run(go())


def test_retry_reruns_only_failed_items_once(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            faults_on(boxes, "bitly", Faults(fail_paths=FAILING))
            body = {"workflow": weekly_report(max_attempts=2), "trigger": TRIGGER}
            run_id = (await client.post("/v1/runs", json=body, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            run = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            assert run["status"] == "failed" and run["failed_step"] == "metrics", run
            loop = next(s for s in run["steps"] if s["step_id"] == "metrics")
            failed = loop["items"]["counts"]["failed"]
            assert failed == len(FAILING)
            waited = [a for i in loop["items"]["items"] for a in i["attempts"] if "wait" in a]
            assert waited, "the failed attempts record their waits"
            faults_on(boxes, "bitly", Faults())
            counts = boxes.apps["bitly"].state.counts
            before = counts[METRICS]
            nothing = {"resolve": {"metrics[0]": "applied"}}
            unknown = await client.post(f"/v1/runs/{run_id}/retry", json=nothing, headers=AUTH)
            _is_problem(unknown, 422, "body.resolve")
            # two clicks at once: one child, and a 409 naming it
            both = await asyncio.gather(
                *(client.post(f"/v1/runs/{run_id}/retry", headers=AUTH) for _ in range(2))
            )
            assert sorted(r.status_code for r in both) == [202, 409], [r.text for r in both]
            child = next(r for r in both if r.status_code == 202).json()["run_id"]
            assert next(r for r in both if r.status_code == 409).json()["run_id"] == child
            again = await client.post(f"/v1/runs/{run_id}/retry", headers=AUTH)
            assert _is_problem(again, 409)["run_id"] == child
            await wait_idle(client)
            done = (await client.get(f"/v1/runs/{child}", headers=AUTH)).json()
            assert done["status"] == "succeeded" and done["parent_run_id"] == run_id
            assert counts[METRICS] - before == failed, "only the failed items were re-requested"
            ok = await client.post(f"/v1/runs/{child}/retry", headers=AUTH)
            assert "nothing to retry" in _is_problem(ok, 409)["detail"]
            _is_problem(await client.post("/v1/runs/nope/retry", headers=AUTH), 404)

    _run(go())
