"""Which budgets an engine paces by: its own, or shared in PostgreSQL (CONNECTOR_BUDGET, or
a PostgreSQL run log), chosen where the engine builds them, so any process running the
engine gets them with no wiring of its own."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.engine.budget_select import registry_for, shared_budget_url
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.runlog import RunLog
from connector.engine.session import build_budgets, engine_session
from connector.engine.shared_budget import SharedBudgetRegistry, SharedRateBudget, hold_budgets
from connector.errors import InvalidConfiguration, TransportError

PG = "postgresql://runner:s3cr3t-pw@db.example:5432/runs"


@pytest.mark.parametrize(
    ("runlog", "env", "expected"),
    [
        (Path("runs.db"), {}, None),
        (":memory:", {}, None),
        (PG, {}, PG),
        ("postgres://h/db", {}, "postgres://h/db"),
        (Path("runs.db"), {"CONNECTOR_BUDGET": PG}, PG),
        (PG, {"CONNECTOR_BUDGET": "process"}, None),
        (PG, {"CONNECTOR_BUDGET": " local "}, None),
        # a run log given as a path wins over the environment's, as --runlog does
        (Path("runs.db"), {"CONNECTOR_RUNLOG": PG}, None),
        # a run log handed over open whose kind is unknown: the environment's says
        (object(), {"CONNECTOR_RUNLOG": PG}, PG),
        (None, {"CONNECTOR_RUNLOG": PG}, None),
    ],
)
def test_where_budgets_are_shared(runlog: Any, env: dict[str, str], expected: str | None) -> None:
    assert shared_budget_url(runlog, env) == expected


def test_an_open_postgresql_run_log_shares_its_database(pg_server: Any) -> None:
    url = pg_server.database_url()
    with RunLog(url) as log:
        assert shared_budget_url(log, {}) == url
    with RunLog(":memory:") as log:
        assert shared_budget_url(log, {"CONNECTOR_RUNLOG": url}) is None


@pytest.mark.parametrize("value", ["mysql://h/db", "runs.db", "redis://x"])
def test_a_budget_url_that_is_not_postgresql_is_refused(value: str) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        shared_budget_url(None, {"CONNECTOR_BUDGET": value})
    assert caught.value.where == "CONNECTOR_BUDGET"
    assert "expected a postgresql://... URL, or 'process'" in caught.value.message


def test_one_registry_per_database_per_process_and_the_password_never_named() -> None:
    first = registry_for(PG, {})
    assert isinstance(first, SharedBudgetRegistry)
    assert registry_for(Path("x.db"), {"CONNECTOR_BUDGET": PG}) is first
    assert first.where == "postgresql://runner@db.example:5432/runs"
    assert registry_for(Path("x.db"), {}) is None


def test_build_budgets_picks_the_shared_kind_by_itself() -> None:
    catalog = load_catalog()
    env = {"CONNECTOR_BUDGET": PG, "BITLY_TOKEN": "tok-select-1"}
    budgets = build_budgets(catalog, env=env)
    assert isinstance(budgets["bitly"], SharedRateBudget)
    # keyed by a hash of the app and credential, never the credential itself
    assert "tok-select-1" not in budgets["bitly"].key
    local = build_budgets(catalog, env={"BITLY_TOKEN": "tok-select-1"})
    assert type(local["bitly"]) is RateBudget


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_budget_database_fails_the_request_before_it_is_sent() -> None:
    url = f"postgresql://u:pw-unreach@127.0.0.1:{_closed_port()}/db"
    registry = SharedBudgetRegistry(url, "postgresql://u@127.0.0.1/db")
    budget = registry.get("app", "tok", RateLimitSpec(per_minute=10))

    async def main() -> None:
        async with registry.hold(), budget.slot():
            raise AssertionError("sent without a reservation")

    with pytest.raises(TransportError) as caught:
        asyncio.run(main())
    error = caught.value
    assert error.write_applied is False  # nothing was sent: safe to retry any write
    assert error.where == "postgresql://u@127.0.0.1/db"
    assert "shared rate budget's database failed" in error.message
    assert "pw-unreach" not in str(error)


def test_the_cli_refuses_a_bad_budget_setting_in_one_line(tmp_path: Path) -> None:
    workflow = tmp_path / "w.yaml"
    workflow.write_text("name: w\nsteps:\n- id: a\n  action: bitly.get_user\n  inputs: {}\n")
    env = {"PATH": "/usr/bin:/bin", "CONNECTOR_BUDGET": "mysql://h/db", "BITLY_TOKEN": "x"}
    result = subprocess.run(
        [sys.executable, "-m", "connector", "run", str(workflow), "--home", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: CONNECTOR_BUDGET: expected"), lines


def test_an_engine_session_holds_and_closes_the_shared_connection(pg_server: Any) -> None:
    url = pg_server.database_url()
    catalog = load_catalog()

    async def main() -> tuple[bool, bool]:
        async with engine_session(
            catalog, ":memory:", credentials={"bitly": "tok-session"}, env={"CONNECTOR_BUDGET": url}
        ) as engine:
            budget = engine.budgets["bitly"]
            assert isinstance(budget, SharedRateBudget)
            async with budget.slot():
                pass
            store = budget._store_of()
            opened = store._conn is not None and not store._conn.closed
        return opened, store._conn is None

    assert asyncio.run(main()) == (True, True)


def test_budgets_built_outside_a_session_can_be_held_too(pg_server: Any) -> None:
    url = pg_server.database_url()
    budgets = build_budgets(
        load_catalog(), credentials={"bitly": "tok-hold"}, env={"CONNECTOR_BUDGET": url}
    )
    budget = budgets["bitly"]
    assert isinstance(budget, SharedRateBudget)

    async def main() -> tuple[bool, bool]:
        async with hold_budgets(budgets):
            async with budget.slot():
                pass
            store = budget._store_of()
            opened = store._conn is not None and not store._conn.closed
        return opened, store._conn is None

    assert asyncio.run(main()) == (True, True)
