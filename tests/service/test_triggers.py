"""Triggers in the service, in-process on a FakeClock (`tick()` driven by the test, nothing
sleeps): webhook hooks with event-id dedupe (acceptance 3), Bitly Link Clicked subscribed
and unsubscribed at the sandbox, polling with its state in the run log (no repeat, no miss
across a crash between a poll and its runs), schedules run once after downtime
(acceptance 4), and the console's Triggers page."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from connector.clock import FakeClock
from connector.engine.runlog import DB_NAME, RunLog
from connector.sandbox.bitly.webhook_deliveries import click_deliveries
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig
from connector.service.secret_box import SECRET_KEY_ENV, SecretBox
from connector.service.trigger_runtime import TriggerRuntime

from .helpers import AUTH, KEY, client_for, wait_idle
from .sandbox_links import create_links as _create_links

GROUP, ORG = "Bdemo000001", "Odemo000001"
PUBLIC = "https://connector.example.com"


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _workflow(trigger: dict[str, Any], bitlink: str = "{{ trigger.id }}") -> dict[str, Any]:
    return {
        "name": "Triggered",
        "trigger": trigger,
        "steps": [{"id": "link", "action": "bitly.get_bitlink", "inputs": {"bitlink": bitlink}}],
    }


async def _save(client: httpx.AsyncClient, workflow: dict[str, Any]) -> str:
    answer = await client.post("/v1/workflows", json={"workflow": workflow}, headers=AUTH)
    assert answer.status_code == 201, answer.text
    workflow_id: str = answer.json()["workflow_id"]
    return workflow_id


async def _enable(client: httpx.AsyncClient, workflow_id: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"/v1/workflows/{workflow_id}/enable", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


def _runtime(client: httpx.AsyncClient) -> TriggerRuntime:
    found: TriggerRuntime = client.app.state.triggers  # type: ignore[attr-defined]
    return found


def _runs(config: ServiceConfig) -> list[Any]:
    with RunLog(config.home / DB_NAME) as log:
        return list(reversed(log.list_runs(limit=10_000)))


def _clock(config: ServiceConfig) -> FakeClock:
    assert isinstance(config.clock, FakeClock)
    return config.clock


def _hook_path(view: dict[str, Any]) -> str:
    url = view["hook_url"]
    assert url and re.fullmatch(r"https?://[^/]+/v1/hooks/hk_[0-9a-f]{16}\.[\w-]{43}", url), url
    return "/v1/hooks/" + url.rsplit("/", 1)[1]


# --- webhooks ---------------------------------------------------------------------------------


def test_a_webhook_event_delivered_five_times_concurrently_starts_one_run(
    config: ServiceConfig,
) -> None:
    """Acceptance 3 for a plain webhook: deduplicated by the payload's `id`, atomically."""

    async def go() -> None:
        async with client_for(config) as client:
            workflow_id = await _save(client, _workflow({"webhook": {"event_id": "id"}}))
            view = await _enable(client, workflow_id)
            assert view["kind"] == "webhook" and view["enabled"] and view["hook_id"]
            path = _hook_path(view)
            for bitlink in ("bit.ly/spring-sale", "bit.ly/docs-start"):
                answers = await asyncio.gather(
                    *(client.post(path, json={"id": bitlink}) for _ in range(5))
                )
                codes = sorted(a.status_code for a in answers)
                assert codes == [200, 200, 200, 200, 202], [a.text for a in answers]
                run_ids = {a.json()["run_id"] for a in answers if a.json()["run_id"]}
                assert len(run_ids) == 1 and all(a.json()["event_key"] == bitlink for a in answers)
            await wait_idle(client)
            # A late sixth delivery names the run the first one started.
            again = await client.post(path, json={"id": "bit.ly/docs-start"})
            assert again.status_code == 200 and again.json()["duplicate"] is True
            assert again.json()["run_id"] == _runs(config)[-1].id
        runs = _runs(config)
        assert [(r.trigger, r.status) for r in runs] == [
            ({"id": "bit.ly/spring-sale"}, "succeeded"),
            ({"id": "bit.ly/docs-start"}, "succeeded"),
        ]

    _run(go())


def test_a_hook_needs_its_whole_secret_and_no_api_key(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            schema = {"type": "object", "properties": {"id": {"type": "string"}}}
            trigger = {"webhook": {"event_id": "id"}, "schema": schema}
            workflow_id = await _save(client, _workflow(trigger))
            path = _hook_path(await _enable(client, workflow_id))
            hook_id, secret = path.rsplit("/", 1)[1].split(".")
            for wrong in (
                f"/v1/hooks/{hook_id}",
                f"/v1/hooks/{hook_id}.{secret[:-1]}X",
                f"/v1/hooks/hk_0000000000000000.{secret}",
            ):
                answer = await client.post(wrong, json={"id": "bit.ly/x"})
                assert answer.status_code == 404, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
            missing = await client.post(path, json={"other": 1})
            assert missing.status_code == 422 and "'id'" in missing.json()["detail"]
            unfit = await client.post(path, json={"id": 7})  # the workflow's trigger schema
            assert unfit.status_code == 422 and "7 is not of type 'string'" in unfit.text
            form = await client.post(path, content=b"id=1", headers={"content-type": "text/plain"})
            assert form.status_code == 415
            # The secret is kept only as a hash: the run log has no trace of it.
            assert secret.encode() not in (config.home / DB_NAME).read_bytes()
            listed = (await client.get("/v1/triggers", headers=AUTH)).json()
            assert listed[0]["hook_url"] is None and secret not in json.dumps(listed)
            disabled = await client.post(f"/v1/workflows/{workflow_id}/disable", headers=AUTH)
            assert disabled.status_code == 200 and disabled.json()["enabled"] is False
            assert (await client.post(path, json={"id": "bit.ly/x"})).status_code == 404
            await wait_idle(client)
        assert _runs(config) == []

    _run(go())


def test_bitly_link_clicked_subscribes_dedupes_and_unsubscribes(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    """Acceptance 3 with Bitly's own deliveries: enabling creates the webhook at the
    sandbox with the hook URL; each click's delivery, sent five times at once, starts one
    run; disabling deletes the webhook."""
    store = boxes.apps["bitly"].state.store

    async def go() -> None:
        async with client_for(config) as client:
            inputs = {"organization_guid": ORG, "group_guid": GROUP}
            trigger = {"webhook": {"action": "bitly.link_clicked", "inputs": inputs}}
            workflow_id = await _save(client, _workflow(trigger, "{{ trigger.bitlink }}"))
            view = await _enable(client, workflow_id, public_url=PUBLIC)
            guid = view["subscription"]["webhook_guid"]
            with store.lock:
                row = store.conn.execute(
                    "SELECT body FROM webhooks WHERE guid=? AND deleted=0", (guid,)
                ).fetchone()
                (last_click,) = store.conn.execute(
                    "SELECT coalesce(max(id), 0) FROM clicks"
                ).fetchone()
            assert json.loads(row["body"])["url"] == view["hook_url"]
            with httpx.Client(base_url=boxes.roots["bitly"]) as browser:
                for bitlink in ("bit.ly/spring-sale", "bit.ly/docs-start", "bit.ly/spring-sale"):
                    assert browser.get(f"/{bitlink}").status_code == 301
            deliveries = [
                d for d in click_deliveries(store, after_click=last_click) if d.webhook_guid == guid
            ]
            assert len(deliveries) == 3
            for delivery in deliveries:
                path = "/v1/hooks/" + delivery.url.rsplit("/", 1)[1]
                answers = await asyncio.gather(
                    *(client.post(path, json=delivery.payload) for _ in range(5))
                )
                assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 202]
            malformed = dict(deliveries[0].payload, datetime="soon")
            bad = await client.post(path, json=malformed)
            assert bad.status_code == 422 and "'datetime'" in bad.json()["detail"]
            await wait_idle(client)
            off = await client.post(f"/v1/workflows/{workflow_id}/disable", headers=AUTH)
            assert off.status_code == 200 and off.json()["subscription"] is None
            with store.lock:
                gone = store.conn.execute(
                    "SELECT deleted FROM webhooks WHERE guid=?", (guid,)
                ).fetchone()
            assert gone["deleted"] == 1
        runs = _runs(config)
        assert sorted(r.trigger["event_id"] for r in runs) == sorted(
            d.payload["event_id"] for d in deliveries
        )
        assert all(r.status == "succeeded" for r in runs)
        assert [r.trigger["bitlink"] for r in runs] == [
            "bit.ly/spring-sale", "bit.ly/docs-start", "bit.ly/spring-sale"
        ]  # fmt: skip

    _run(go())


# --- polling ----------------------------------------------------------------------------------


def _poll_workflow(interval: int = 60) -> dict[str, Any]:
    return _workflow(
        {"poll": {"action": "bitly.new_bitlink", "inputs": {"group_guid": GROUP},
                  "interval": interval}}
    )  # fmt: skip


def test_polling_starts_one_run_per_new_link_and_resumes_after_a_crash(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    clock = _clock(config)

    async def go() -> str:
        async with client_for(config) as client:
            workflow_id = await _save(client, _poll_workflow())
            view = await _enable(client, workflow_id)
            assert view["kind"] == "poll" and view["next_at"]
            runtime = _runtime(client)
            await runtime.tick()  # the first poll records where things stand
            await wait_idle(client)
            assert _runs(config) == []
            first = _create_links(boxes, 3, "first")
            await runtime.tick()  # not due yet: nothing polled
            assert _runs(config) == []
            clock.advance(60)
            await runtime.tick()
            await wait_idle(client)
            assert [r.trigger["id"] for r in _runs(config)] == first

            # A crash between a poll's commit and its runs: the events are recorded with
            # the new state, their runs not started.
            second = _create_links(boxes, 2, "second")
            clock.advance(60)

            async def crashed() -> list[str]:
                return []

            runtime.start_pending = crashed  # type: ignore[method-assign]
            await runtime.tick()
            assert len(_runs(config)) == 3
        # Restarted: the recorded events start, the next poll finds nothing new.
        async with client_for(config) as client:
            await _runtime(client).tick()
            await wait_idle(client)
            assert [r.trigger["id"] for r in _runs(config)] == first + second
            third = _create_links(boxes, 1, "third")
            clock.advance(60)
            await _runtime(client).tick()
            await _runtime(client).tick()
            await wait_idle(client)
            listed = await client.get(f"/v1/workflows/{workflow_id}/trigger", headers=AUTH)
            assert listed.json()["events"] == {
                "events": 6, "started": 6, "rejected": 0, "pending": 0
            }  # fmt: skip
        assert [r.trigger["id"] for r in _runs(config)] == first + second + third
        assert all(r.status == "succeeded" for r in _runs(config))
        return workflow_id

    _run(go())


def test_a_failed_poll_keeps_its_state_and_a_disabled_trigger_resumes(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    """A poll the API refuses changes nothing (the next one misses nothing); disabled and
    enabled again, the trigger resumes from its state instead of replaying or skipping."""
    clock = _clock(config)
    bitly = boxes.apps["bitly"]

    async def go() -> None:
        async with client_for(config) as client:
            workflow_id = await _save(client, _poll_workflow())
            await _enable(client, workflow_id)
            runtime = _runtime(client)
            await runtime.tick()
            created = _create_links(boxes, 2, "during-outage")
            bitly.state.store.conn.execute("ALTER TABLE links RENAME TO links_away")
            clock.advance(60)
            await runtime.tick()  # the sandbox fails: 500
            view = (await client.get(f"/v1/workflows/{workflow_id}/trigger", headers=AUTH)).json()
            assert view["last_error"] and view["events"]["events"] == 0
            bitly.state.store.conn.execute("ALTER TABLE links_away RENAME TO links")
            off = await client.post(f"/v1/workflows/{workflow_id}/disable", headers=AUTH)
            assert off.json()["enabled"] is False
            clock.advance(600)
            await runtime.tick()  # disabled: not polled
            assert _runs(config) == []
            await _enable(client, workflow_id)
            await runtime.tick()
            await wait_idle(client)
        assert [r.trigger["id"] for r in _runs(config)] == created

    _run(go())


def test_enable_refuses_what_cannot_run(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            cases = [
                ({"sample": {"id": "bit.ly/x"}}, 422, "none of poll, webhook and schedule"),
                ({"poll": {"action": "bitly.link_clicked"}}, 422, "bitly.link_clicked is a web"),
                ({"poll": {"action": "bitly.new_bitlink"}}, 422, "input 'group_guid': required"),
                ({"webhook": {"action": "bitly.get_bitlink"}}, 422, "bitly.get_bitlink is a"),
                ({"schedule": {"cron": "* * * * *"}, "schema": {"required": ["id"]}}, 422,
                 "'id' is a required property"),
            ]  # fmt: skip
            for trigger, status, needle in cases:
                workflow_id = await _save(client, _workflow(trigger))
                answer = await client.post(f"/v1/workflows/{workflow_id}/enable", headers=AUTH)
                assert answer.status_code == status, answer.text
                assert needle in answer.json()["detail"], answer.text
            missing = await client.post("/v1/workflows/wf_nope/enable", headers=AUTH)
            assert missing.status_code == 404
            unknown_key = await client.post(
                "/v1/workflows/wf_nope/enable", headers={"X-API-Key": KEY[:-1] + "X"}
            )
            assert unknown_key.status_code == 401
            bad = await client.post(
                "/v1/workflows",
                json={"workflow": _workflow({"schedule": {"cron": "61 * * * *"}})},
                headers=AUTH,
            )
            assert bad.status_code == 422 and "not a cron expression" in bad.text
            zone = await client.post(
                "/v1/workflows",
                json={"workflow": _workflow({"schedule": {"cron": "0 9 * * 1",
                                                          "timezone": "Mars/Olympus"}})},
                headers=AUTH,
            )  # fmt: skip
            assert zone.status_code == 422 and "not an IANA time zone" in zone.text

    _run(go())


# --- schedules ----------------------------------------------------------------------------------


def test_a_schedule_missed_for_three_minutes_runs_once_on_restart(config: ServiceConfig) -> None:
    """Acceptance 4: every minute; the service stops for three minutes (three ticks missed);
    the restarted service runs the schedule once, for the latest missed minute."""
    clock = _clock(config)  # wall time starts at 2026-01-01T00:00:00Z
    workflow = _workflow(
        {"sample": {"id": "bit.ly/spring-sale"}, "schedule": {"cron": "* * * * *"}}
    )

    async def go() -> None:
        async with client_for(config) as client:
            workflow_id = await _save(client, workflow)
            view = await _enable(client, workflow_id)
            assert view["next_at"] == "2026-01-01T00:01:00Z"
            runtime = _runtime(client)
            await runtime.tick()
            assert _runs(config) == []  # not time yet
            clock.advance(61)
            await runtime.tick()
            await runtime.tick()
            await wait_idle(client)
            assert [r.trigger["scheduled_at"] for r in _runs(config)] == ["2026-01-01T00:01:00Z"]
        clock.advance(3 * 60)  # stopped at 00:01:01, back at 00:04:01: 00:02, 00:03, 00:04 missed
        async with client_for(config) as client:
            await _runtime(client).tick()
            await _runtime(client).tick()
            await wait_idle(client)
            view = (await client.get(f"/v1/workflows/{workflow_id}/trigger", headers=AUTH)).json()
            assert view["next_at"] == "2026-01-01T00:05:00Z"
            assert view["last_fired_at"] == "2026-01-01T00:04:00Z"
            clock.advance(60)
            await _runtime(client).tick()
            await wait_idle(client)
        runs = _runs(config)
        assert [r.trigger["scheduled_at"] for r in runs] == [
            "2026-01-01T00:01:00Z", "2026-01-01T00:04:00Z", "2026-01-01T00:05:00Z"
        ]  # fmt: skip
        # The schedule's run starts from the workflow's sample, with its time added.
        first = {"id": "bit.ly/spring-sale", "scheduled_at": "2026-01-01T00:01:00Z"}
        assert runs[0].trigger == first
        assert all(r.status == "succeeded" for r in runs)

    _run(go())


def test_a_schedule_reads_its_cron_in_its_time_zone(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            trigger = {"sample": {"id": "bit.ly/spring-sale"},
                       "schedule": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"}}  # fmt: skip
            workflow_id = await _save(client, _workflow(trigger))
            view = await _enable(client, workflow_id)
            # Monday 5 January 2026, 09:00 in Paris (UTC+1 in winter)
            assert view["next_at"] == "2026-01-05T08:00:00Z"
            listed = (await client.get("/v1/triggers?enabled=true", headers=AUTH)).json()
            assert [t["workflow_id"] for t in listed] == [workflow_id]

    _run(go())


# --- the console --------------------------------------------------------------------------------


def test_the_console_lists_enabled_triggers(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            assert (await client.get("/triggers")).status_code == 303  # signed out
            poll_id = await _save(client, _poll_workflow())
            await _enable(client, poll_id)
            hook_view = await _enable(
                client, await _save(client, _workflow({"webhook": {"event_id": "id"}}))
            )
            signed = await client.post("/signin", data={"api_key": KEY})
            assert signed.status_code == 303
            home = await client.get("/")
            assert 'href="/triggers"' in home.text
            page = await client.get("/triggers")
            assert page.status_code == 200
            assert poll_id in page.text
            assert "polls <code>bitly.new_bitlink</code> every 60 s" in page.text
            assert hook_view["hook_id"] in page.text
            assert hook_view["hook_url"].rsplit(".", 1)[1] not in page.text  # the secret

    _run(go())


def test_a_log_line_quoting_a_hook_url_shows_no_secret(
    config: ServiceConfig, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> str:
        async with client_for(config) as client:
            workflow_id = await _save(client, _workflow({"webhook": {"event_id": "id"}}))
            return str((await _enable(client, workflow_id))["hook_url"])

    url = _run(go())
    secret = url.rsplit(".", 1)[1]
    logging.getLogger("uvicorn.access").warning('127.0.0.1 - "POST %s HTTP/1.1" 202', url)
    assert url.rsplit(".", 1)[0] + ".***" in caplog.text and secret not in caplog.text


def test_enabling_link_clicked_again_replaces_its_webhook_and_url(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    store = boxes.apps["bitly"].state.store

    def deleted(guid: str) -> bool:
        with store.lock:
            row = store.conn.execute(
                "SELECT deleted FROM webhooks WHERE guid=?", (guid,)
            ).fetchone()
        return bool(row["deleted"])

    async def go() -> None:
        async with client_for(config) as client:
            inputs = {"organization_guid": ORG}
            trigger = {"webhook": {"action": "bitly.link_clicked", "inputs": inputs}}
            workflow_id = await _save(client, _workflow(trigger, "{{ trigger.bitlink }}"))
            first = await _enable(client, workflow_id, public_url=PUBLIC)
            second = await _enable(client, workflow_id, public_url=PUBLIC)
            old, new = (v["subscription"]["webhook_guid"] for v in (first, second))
            assert old != new and deleted(old) and not deleted(new)
            payload = {"event_id": "e1", "datetime": "2026-04-15T12:00:00Z",
                       "bitlink": "bit.ly/spring-sale"}  # fmt: skip
            assert (await client.post(_hook_path(first), json=payload)).status_code == 404
            assert (await client.post(_hook_path(second), json=payload)).status_code == 202
            await wait_idle(client)

    _run(go())


def test_a_trigger_polls_and_runs_with_its_named_connection(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    """The service has no Bitly credential of its own here: only the connection reaches the
    sandbox, for the trigger's polls and for the runs it starts."""
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    credentials = {k: v for k, v in (config.credentials or {}).items() if k != "bitly"}
    sealed = replace(
        config, secret_box=SecretBox.from_env({SECRET_KEY_ENV: key}), credentials=credentials
    )
    clock = _clock(sealed)

    async def go() -> None:
        async with client_for(sealed) as client:
            body = {"name": "main", "app": "bitly", "credential": boxes.credentials["bitly"]}
            assert (await client.post("/v1/connections", json=body, headers=AUTH)).is_success
            workflow_id = await _save(client, _poll_workflow())
            await _enable(client, workflow_id)
            await _runtime(client).tick()  # no credential: the poll fails, nothing recorded
            path = f"/v1/workflows/{workflow_id}/trigger"
            assert (await client.get(path, headers=AUTH)).json()["last_error"]
            unknown = await client.post(
                f"/v1/workflows/{workflow_id}/enable", json={"connection": "nope"}, headers=AUTH
            )
            assert unknown.status_code == 422 and "no connection 'nope'" in unknown.text
            view = await _enable(client, workflow_id, connection="main")
            assert view["connection"] == ["main"]
            await _runtime(client).tick()
            created = _create_links(boxes, 2, "with-connection")
            clock.advance(60)
            await _runtime(client).tick()
            await wait_idle(client)
            view = (await client.get(path, headers=AUTH)).json()
            assert view["last_error"] is None and view["events"]["started"] == 2
        runs = _runs(sealed)
        assert [r.trigger["id"] for r in runs] == created
        assert all(r.status == "succeeded" for r in runs)
        assert boxes.credentials["bitly"] not in (sealed.home / DB_NAME).read_text("latin-1")

    _run(go())
