"""One process hammering a shared budget: `python shared_budget_hammer.py URL START N
WINDOWS OUT` makes N reservations at once from START (epoch seconds) on a budget of 25
a second shared through URL, and writes the instants granted (the database's clock) and
the instants sent (this process's clock, moved onto the database's) to OUT as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from connector.engine.rate_budget import RateLimitSpec
from connector.engine.shared_budget import SharedBudgetRegistry, SharedRateBudget

PER_SECOND = 25


async def main(url: str, start: float, n: int, windows: str, out: Path) -> None:
    registry = SharedBudgetRegistry(url, "hammer")
    budget = registry.get("hammer", "token", RateLimitSpec(per_second=PER_SECOND, windows=windows))
    assert isinstance(budget, SharedRateBudget)
    granted: list[float] = []
    grant = budget._grant

    def recording(*args: object) -> float:
        at = grant(*args)  # type: ignore[arg-type]
        granted.append(at)
        return at

    budget._grant = recording  # type: ignore[method-assign]
    sent: list[float] = []

    async def one() -> None:
        async with budget.slot():
            sent.append(budget.clock.wall())

    async with registry.hold():
        await asyncio.sleep(max(0.0, start - time.time()))
        await asyncio.gather(*(one() for _ in range(n)))
        transactions = registry.store().transactions
    out.write_text(json.dumps({"granted": granted, "sent": sent, "transactions": transactions}))


if __name__ == "__main__":
    url, start, n, windows, out = sys.argv[1:6]
    asyncio.run(main(url, float(start), int(n), windows, Path(out)))
