"""The runner sizes each app's httpx connection pool from the budget in force.

Measured at the server: how many requests it holds at once when 12 are sent together, each
answered after a short delay. The Bitly manifest allows 5 concurrent connections; a session
overriding the budget to 50 must get all 12 through at once, not 5 (the pool used to follow the
manifest and silently capped the override).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.budget import RequestBudget
from connector.catalog import load_catalog
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.runner import ActionRunner
from connector.sandbox.server import BackgroundServer

TOKEN = "pool-token-8d1e4b7a2c"
ACTION = "bitly.get_bitlink"
REQUESTS = 12


class _Held:
    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.delay = 0.1

    async def endpoint(self, request: Request) -> JSONResponse:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.now -= 1
        return JSONResponse({"id": "bit.ly/abc"})


@pytest.fixture(scope="module")
def server() -> Any:
    held = _Held()
    app = Starlette(routes=[Route("/v4/{rest:path}", held.endpoint)])
    with BackgroundServer(app) as running:
        yield running, held


def _peak(server: Any, budgets: dict[str, RequestBudget] | None, delay: float = 0.1) -> int:
    running, held = server
    held.peak = 0
    held.delay = delay

    async def main() -> None:
        async with ActionRunner(
            load_catalog(),
            base_urls={"bitly": running.url + "/v4"},
            credentials={"bitly": TOKEN},
            budgets=budgets,
        ) as runner:
            client = runner.client("bitly", ACTION)
            await asyncio.gather(
                *(client.request(ACTION, "GET", f"bitlinks/bit.ly/x{i}") for i in range(REQUESTS))
            )

    asyncio.run(main())
    return held.peak


def test_a_budget_override_of_50_is_not_capped_by_the_manifest(server: Any) -> None:
    budget = RateBudget(RateLimitSpec(concurrency=50))
    # held long enough that all of them are at the server together
    assert _peak(server, {"bitly": budget}, delay=0.3) == REQUESTS


def test_without_an_override_the_manifest_concurrency_sizes_the_pool(server: Any) -> None:
    assert _peak(server, None) == 5  # no budget: the manifest's 5
    # A budget that sets no concurrency of its own falls back to the manifest's too.
    assert _peak(server, {"bitly": RateBudget(RateLimitSpec(per_minute=10_000))}) == 5


def test_a_budget_tighter_than_the_manifest_is_the_limit(server: Any) -> None:
    assert _peak(server, {"bitly": RateBudget(RateLimitSpec(concurrency=2))}, delay=0.05) == 2
