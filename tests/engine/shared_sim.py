"""Several workers, each with its own engine session and shared budget registry (as three
processes would have), against one Bitly sandbox in process, on simulated time.

The budgets share their counts through a real PostgreSQL database; the registries' clock
stands in for the database's, so that hours of API time pass in seconds. The sandbox's own
window logic counts what it received on the same clock.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from connector.catalog import load_catalog
from connector.engine.session import engine_session
from connector.engine.shared_budget import SharedRateBudget
from connector.engine.workflow import validate_workflow
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Limits

from .conftest import SimClock
from .pacing_sim import SHORTEN, PacingRun, RecordingTransport, ideal_times, shorten_loop

_runs = itertools.count()


@dataclass
class SharedRun(PacingRun):
    """A pacing run of several workers: `ok` when every worker's run succeeded."""

    budgets: list[SharedRateBudget] = field(default_factory=list)


def run_workers_against_sandbox(
    database: str,
    n: int,
    *,
    workers: int = 3,
    start: float,
    per_minute: int = 100,
    per_hour: int | None = 1000,
    windows: str = "fixed",
) -> SharedRun:
    """`n` shorten items split over `workers` engine sessions sharing `database`
    (`CONNECTOR_BUDGET`: "process" gives each its own budget)."""
    clock = SimClock(start=start)
    limits = Limits(per_minute=per_minute, per_hour=per_hour, windows=windows)
    app = bitly.create_app(SandboxConfig(controls=Controls(limits=limits), now=clock.wall))
    transport = RecordingTransport(app, clock)
    stores: list[Any] = []
    clock.busy = lambda: transport.inflight > 0 or any(s.in_flight for s in stores)
    catalog = load_catalog()
    spec = catalog.apps["bitly"]
    declared = spec.rate_limits.model_copy(update={"windows": windows})
    catalog.apps["bitly"] = spec.model_copy(update={"rate_limits": declared})
    workflow = validate_workflow(shorten_loop(), catalog)
    urls = [f"https://example.com/shared/{i:05d}" for i in range(n)]
    run_number = next(_runs)
    budgets: list[SharedRateBudget] = []

    async def worker(index: int) -> bool:
        async with engine_session(
            catalog,
            ":memory:",
            # A host of its own: the learned limits are cached per process by base URL
            # (connector.engine.limits), and this sandbox's usage is no other test's.
            base_urls={"bitly": f"http://shared{run_number}.sandbox.test/v4"},
            credentials={"bitly": DEMO_BITLY_TOKEN},
            transport=transport,
            clock=clock,
            rng=random.Random(index),
            env={"CONNECTOR_BUDGET": database},
        ) as engine:
            budget = engine.budgets["bitly"]
            if isinstance(budget, SharedRateBudget):
                budgets.append(budget)
                stores.append(budget._store_of())
            result = await engine.run(workflow, {"items": urls[index::workers]})
            return result.ok

    async def everyone() -> list[bool]:
        return list(await asyncio.gather(*(worker(i) for i in range(workers))))

    ok = clock.run(everyone())
    sends = [clock.wall_of(t) for t in transport.sends(*SHORTEN)]
    caps = [(cap, period) for cap, period in ((per_minute, 60.0), (per_hour, 3600.0)) if cap]
    ideal = ideal_times(n, sends[0], caps, windows == "sliding") if sends else []
    return SharedRun(all(ok), sends, transport.throttled, ideal, transport.log, budgets)


def check_the_minutes(controls: Any, total: int, per_minute: int) -> None:
    """No window ever exceeded, and at least 95% of the allowed rate used, by the
    sandbox's counts per window (`total` shorten requests in all, each sent once)."""
    # No window ever exceeded: the sandbox refused nothing, for any reason.
    windows = controls.window_counts()
    assert dict(controls.throttles) == {}
    assert all(w["throttled"] == 0 for w in windows), windows
    minutes = [
        w for w in windows if w["endpoint"] == "POST /v4/shorten" and w["window"] == "minute"
    ]
    assert all(w["admitted"] <= per_minute for w in minutes), minutes
    assert sum(w["admitted"] for w in minutes) == total  # each item sent once

    # The rate used: every minute window but the last is filled to at least 95%, except a
    # first window the workers reached only in its last seconds (nothing was waiting in it
    # before then).
    full = [w["admitted"] >= 0.95 * per_minute for w in minutes[:-1]]
    if full and not full[0]:
        assert minutes[0]["admitted"] + minutes[1]["admitted"] >= per_minute, minutes
        full = full[1:]
    assert all(full), minutes
    assert len(minutes) <= 3, minutes
