"""A run's own windows in a shared budget's PostgreSQL tables (connector/engine/
run_limits.py, shared_budget.py): two processes' budgets hold one run to its limits
together, and the run's end removes its rows, only its own (a run id's `_` or `%` is no
wildcard). Simulated time; the store's clock stands in for the database's."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import psycopg

from connector.engine.rate_budget import RateLimitSpec
from connector.engine.run_limits import RUN_LIMITS, run_limits
from connector.engine.shared_budget import SharedRateBudget, budget_key
from connector.engine.shared_budget_store import BudgetStore

from .conftest import SimClock

KEY = budget_key("runlimits-app", "token")


def _rows(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT window_id FROM shared_budget_windows WHERE key = %s ORDER BY window_id",
            (KEY,),
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_two_processes_hold_a_run_to_its_limits_and_its_end_removes_its_rows(
    pg_server: Any,
) -> None:
    url = pg_server.database_url()
    clock = SimClock(start=0.0)
    stores = [BudgetStore(url, "CONNECTOR_BUDGET", wall=clock.wall) for _ in range(2)]
    clock.busy = lambda: any(s.in_flight for s in stores)
    spec = RateLimitSpec(per_minute=1000, windows="fixed")
    budgets = [
        SharedRateBudget(spec, store=lambda s=s: s, key=KEY, clock=clock, name="runlimits-app")
        for s in stores
    ]
    sent: list[tuple[str, float]] = []

    async def process(index: int, run_id: str, n: int) -> None:
        budget = budgets[index]
        RUN_LIMITS.set(run_limits(run_id, {"app": {"per_minute": 4}}, {"app": budget}))
        for _ in range(n):
            async with budget.slot():
                sent.append((run_id, clock.t))

    async def main() -> None:
        try:
            await asyncio.gather(
                asyncio.create_task(process(0, "r_1", 6)),
                asyncio.create_task(process(1, "r_1", 6)),
                asyncio.create_task(process(1, "rx1", 1)),  # LIKE 'run r_1/%' matches it
            )
            assert _rows(url) == ["app/minute", "run r_1/minute", "run rx1/minute"]
            budgets[0].forget_run("r_1")
            await asyncio.gather(*budgets[0]._publishing)
        finally:
            for store in stores:
                await store.close()

    clock.run(main())
    per_minute = Counter(int(t // 60.0) for run_id, t in sent if run_id == "r_1")
    assert sorted(per_minute.values()) == [4, 4, 4]  # 4 a minute together, not 4 each
    assert _rows(url) == ["app/minute", "run rx1/minute"]
