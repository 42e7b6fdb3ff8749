"""Connections: a named credential, tested when saved, sealed at rest under
CONNECTOR_SECRET_KEY, never returned, masked everywhere; tests, options and runs name it."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.errors import InvalidConfiguration
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig
from connector.service.secret_box import SECRET_KEY_ENV, SecretBox, UndecryptableSecret

from .helpers import AUTH, client_for, wait_idle, weekly_report

TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}
KEY_TEXT = base64.urlsafe_b64encode(b"k" * 32).decode()


def _sealed(config: ServiceConfig) -> ServiceConfig:
    """The service with a secret key and no credential of its own for Bitly: only a saved
    connection can reach the sandbox."""
    credentials = {k: v for k, v in (config.credentials or {}).items() if k != "bitly"}
    return replace(
        config, secret_box=SecretBox.from_env({SECRET_KEY_ENV: KEY_TEXT}), credentials=credentials
    )


def test_secret_key_from_the_environment() -> None:
    assert SecretBox.from_env({}) is None
    assert SecretBox.from_env({}, sandbox=True).ephemeral  # type: ignore[union-attr]
    with pytest.raises(InvalidConfiguration, match=SECRET_KEY_ENV):
        SecretBox.from_env({SECRET_KEY_ENV: "too-short"})
    box = SecretBox.from_env({SECRET_KEY_ENV: KEY_TEXT})
    assert box is not None
    sealed = box.seal("tok", "a")
    assert b"tok" not in sealed and box.open(sealed, "a") == "tok"
    with pytest.raises(UndecryptableSecret):
        box.open(sealed, "b")  # bound to its name: a row copied elsewhere does not open
    other = SecretBox.from_env({SECRET_KEY_ENV: base64.urlsafe_b64encode(b"o" * 32).decode()})
    with pytest.raises(UndecryptableSecret):
        other.open(sealed, "a")  # type: ignore[union-attr]


def test_without_a_secret_key_nothing_is_stored(config: ServiceConfig) -> None:
    async def go() -> None:
        async with client_for(config) as client:
            body = {"name": "main", "app": "bitly", "credential": "x" * 20}
            answer = await client.post("/v1/connections", json=body, headers=AUTH)
            assert answer.status_code == 409 and SECRET_KEY_ENV in answer.json()["detail"]
            assert (await client.get("/v1/connections", headers=AUTH)).json() == []

    asyncio.run(go())


def test_a_connection_is_tested_sealed_used_and_never_shown(
    config: ServiceConfig,
    boxes: EmbeddedSandboxes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = boxes.credentials["bitly"]
    sealed = _sealed(config)
    seen: list[str] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response.text)

    async def go() -> str:
        async with client_for(sealed) as client:
            client.event_hooks["response"].append(keep)
            refused = await client.post(
                "/v1/connections",
                json={"name": "bad", "app": "bitly", "credential": "not-a-real-token-1234"},
                headers=AUTH,
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0]["field"] == "body.credential"
            before = boxes.apps["bitly"].state.counts.get("GET /v4/user", 0)
            saved = await client.post(
                "/v1/connections",
                json={"name": "main", "app": "bitly", "credential": token},
                headers=AUTH,
            )
            assert saved.status_code == 201, saved.text
            assert saved.json()["tested_at"] and set(saved.json()) == {
                "name", "app", "created_at", "tested_at"
            }  # fmt: skip
            assert boxes.apps["bitly"].state.counts.get("GET /v4/user", 0) == before + 1
            again = {"name": "main", "app": "bitly", "credential": token}
            twice = await client.post("/v1/connections", json=again, headers=AUTH)
            assert twice.status_code == 409
            listed = (await client.get("/v1/connections", headers=AUTH)).json()
            assert [c["name"] for c in listed] == ["main"]
            assert (await client.get("/v1/connections/main", headers=AUTH)).json()["app"] == "bitly"

            # without the connection the app's environment credential is used: none here
            step = {"inputs": {"group_guid": "Bdemo000001"}}
            url = "/v1/actions/bitly.list_group_bitlinks/test"
            bare = (await client.post(url, json=step, headers=AUTH)).json()
            assert bare["ok"] is False and bare["error"]["type"] == "MissingCredential", bare
            used = (await client.post(url, json=step | {"connection": "main"}, headers=AUTH)).json()
            assert used["ok"] is True, used
            unknown = await client.post(url, json=step | {"connection": "nope"}, headers=AUTH)
            assert unknown.status_code == 422
            assert unknown.json()["errors"][0]["field"] == "body.connection"

            options = await client.post(
                "/v1/actions/bitly.create_bitlink/options/group_guid",
                json={"connection": "main"},
                headers=AUTH,
            )
            assert options.status_code == 200 and options.json()["options"], options.text

            run = {"workflow": weekly_report(), "trigger": TRIGGER, "connection": "main"}
            run_id: str = (await client.post("/v1/runs", json=run, headers=AUTH)).json()["run_id"]
            await wait_idle(client)
            shown = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            assert shown["status"] == "succeeded", shown
            # the console too
            await client.post("/signin", data={"api_key": AUTH["Authorization"][7:]})
            for page in ("/", f"/runs/{run_id}", "/catalog"):
                await client.get(page)
            gone = await client.delete("/v1/connections/main", headers=AUTH)
            assert gone.status_code == 204
            assert (await client.get("/v1/connections/main", headers=AUTH)).status_code == 404
            return run_id

    with caplog.at_level(logging.DEBUG):
        asyncio.run(go())
    assert len(seen) > 15
    for text in seen:
        assert token not in text
    for record in caplog.records:
        assert token not in record.getMessage()
    files = [p for p in Path(config.home).rglob("*") if p.is_file()]
    assert any(p.name == "service.db" for p in files) and any(p.name == "runs.db" for p in files)
    for path in files:  # the databases and their WAL files
        assert token.encode() not in path.read_bytes(), path


def test_a_connection_sealed_under_another_key_is_refused_by_name(
    config: ServiceConfig, boxes: EmbeddedSandboxes
) -> None:
    sealed = _sealed(config)

    async def save() -> None:
        async with client_for(sealed) as client:
            body = {"name": "main", "app": "bitly", "credential": boxes.credentials["bitly"]}
            saved = await client.post("/v1/connections", json=body, headers=AUTH)
            assert saved.status_code == 201

    async def use(other: ServiceConfig) -> Any:
        async with client_for(other) as client:
            body = {"inputs": {"group_guid": "Bdemo000001"}, "connection": "main"}
            return await client.post(
                "/v1/actions/bitly.list_group_bitlinks/test", json=body, headers=AUTH
            )

    asyncio.run(save())
    rekeyed = replace(sealed, secret_box=SecretBox.from_env({}, sandbox=True))
    answer = asyncio.run(use(rekeyed))
    assert answer.status_code == 422 and "main" in answer.json()["detail"]
    assert answer.json()["errors"][0]["field"] == "body.connection"
    keyless = replace(sealed, secret_box=None)
    answer = asyncio.run(use(keyless))
    assert answer.status_code == 422 and SECRET_KEY_ENV in answer.json()["detail"]
