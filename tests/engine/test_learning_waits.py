"""Calls that arrive while an app's own limits are being read wait for them (issue 12).

A loop's items on a Temporal worker reach `Engine.call` with nothing learned yet (the
worker did not start the loop), five at a time. Only the first reads the limits; the
others must not go out meanwhile, paced by the declared figures' windows that the learned
ones replace: on a budget shared in PostgreSQL such requests were counted in no endpoint
window, and three workers overran a minute by the requests of their first instants.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from connector.catalog import load_catalog
from connector.engine.loop_item import run_item
from connector.engine.session import engine_session
from connector.engine.workflow import LoopStep, validate_workflow
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig

from .pacing_sim import shorten_loop


class OrderTransport(httpx.AsyncBaseTransport):
    """ASGI in process; records ("sent"|"answered", path) in order."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.events: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.events.append(("sent", request.url.path))
        if request.url.path.endswith("/platform_limits"):
            await asyncio.sleep(0.05)  # a slow read: the other items arrive meanwhile
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.events.append(("answered", request.url.path))
        return response


def test_items_arriving_during_the_limits_read_wait_for_the_learned_figures() -> None:
    catalog = load_catalog()
    workflow = validate_workflow(shorten_loop(), catalog)
    step = workflow.steps[0]
    assert isinstance(step, LoopStep)
    transport = OrderTransport(bitly.create_app(SandboxConfig()))

    async def go() -> list[str]:
        async with engine_session(
            catalog,
            ":memory:",
            base_urls={"bitly": "http://sandbox.test/v4"},
            credentials={"bitly": DEMO_BITLY_TOKEN},
            transport=transport,
            env={},
        ) as engine:
            context: dict[str, Any] = {"trigger": {}, "steps": {}}
            records = await asyncio.gather(
                *(
                    run_item(engine, "run", step, context, f"https://example.com/{i}", i)
                    for i in range(5)
                )
            )
            budget = engine.budgets["bitly"]
            # paced by the learned per-endpoint figures
            assert budget.spec.endpoints
            return [record.status for record in records]

    assert asyncio.run(go()) == ["succeeded"] * 5
    events = transport.events
    learned = events.index(("answered", "/v4/user/platform_limits"))
    first_shorten = events.index(("sent", "/v4/shorten"))
    assert first_shorten > learned, events
    assert events.count(("sent", "/v4/user/platform_limits")) == 1, events
