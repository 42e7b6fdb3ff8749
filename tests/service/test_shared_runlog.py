"""The service writes to the run log it is given (--runlog / $CONNECTOR_RUNLOG), so the CLI
and workers sharing a PostgreSQL run log see its runs, and it sees theirs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from connector.cli import main
from connector.cli.serve_cmd import register
from connector.service import ServiceConfig

from .helpers import AUTH, client_for, wait_idle, weekly_report

TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}


def test_the_service_shares_a_postgresql_run_log_with_the_cli(
    config: ServiceConfig, pg_server: object, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_server.database_url()  # type: ignore[attr-defined]
    shared = replace(config, runlog=url)

    async def go() -> str:
        async with client_for(shared) as client:
            started = await client.post(
                "/v1/runs", json={"workflow": weekly_report(), "trigger": TRIGGER}, headers=AUTH
            )
            run_id: str = started.json()["run_id"]
            await wait_idle(client)
            run = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            assert run["status"] == "succeeded"
            events = await client.get(f"/v1/runs/{run_id}/events", headers=AUTH)
            assert events.text.startswith("id: 1\nevent: status\n")
            assert 'event: end\ndata: {"run_id"' in events.text and "succeeded" in events.text
            return run_id

    run_id = asyncio.run(go())
    assert not (config.home / "runs.db").exists(), "nothing went to the home's file"
    capsys.readouterr()
    assert main(["runs", "show", run_id, "--runlog", url, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "succeeded", shown


def test_serve_takes_runlog_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from connector.cli.run_cmd import _runlog

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--runlog", "postgresql://u@h/db"])
    assert _runlog(args) == "postgresql://u@h/db"
    monkeypatch.setenv("CONNECTOR_RUNLOG", "postgresql://u@h/env")
    assert _runlog(parser.parse_args(["serve"])) == "postgresql://u@h/env"
