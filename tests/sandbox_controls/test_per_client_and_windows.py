"""The concurrency cap per client address (Bitly's 5 per client IP), and the counts of
every calendar window, which tests read to prove that no window was ever exceeded."""

from __future__ import annotations

import asyncio

import httpx

from connector.sandbox.controls import ADMIN_TOKEN_HEADER, Controls, Limits

from .conftest import Clock, DummyApp, make


def _client(mw: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=mw, client=(address, 40000))  # type: ignore[arg-type]
    headers = {ADMIN_TOKEN_HEADER: getattr(mw, "controls").admin_token or ""}  # noqa: B009
    return httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers)


def test_concurrency_is_capped_per_client_address(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(limits=Limits(concurrency_per_client=2)), clock)

    async def go() -> tuple[list[int], list[int], dict[str, int]]:
        dummy.gate = asyncio.Event()
        async with _client(mw, "127.0.0.2") as two, _client(mw, "127.0.0.3") as three:
            held = [asyncio.create_task(c.get("/items")) for c in (two, two, three, three)]
            while dummy.handled < 4:
                await asyncio.sleep(0)
            # each address has its two in flight: a third from either is refused
            refused = [(await c.get("/items")) for c in (two, three)]
            dummy.gate.set()
            done = [(await t).status_code for t in held]
            after = (await two.get("/items")).status_code
        assert {r.json()["reason"] for r in refused} == {"concurrency_per_client"}
        return [*done, after], [r.status_code for r in refused], dict(mw.throttles)

    done, refused, throttles = asyncio.run(go())
    assert done == [200, 200, 200, 200, 200]
    assert refused == [429, 429]
    assert throttles == {"concurrency_per_client": 2}
    assert dummy.handled == 5


def test_each_calendar_window_counts_what_it_admitted_and_refused(
    dummy: DummyApp, clock: Clock
) -> None:
    clock.t += 30  # mid-minute
    mw = make(dummy, Controls(limits=Limits(per_minute=3, per_hour=100), admin=True), clock)

    async def go() -> dict[str, object]:
        async with _client(mw, "127.0.0.1") as client:
            for _ in range(4):
                await client.get("/items")
            clock.t += 30  # the next minute
            for _ in range(2):
                await client.get("/items")
            return dict((await client.get("/_sandbox/windows")).json())

    body = asyncio.run(go())
    minute0 = 1_767_225_600
    assert body["windows"] == [
        {
            "endpoint": "GET /items",
            "window": "minute",
            "start": minute0,
            "admitted": 3,
            "throttled": 1,
        },
        {
            "endpoint": "GET /items",
            "window": "minute",
            "start": minute0 + 60,
            "admitted": 2,
            "throttled": 0,
        },
        {
            "endpoint": "GET /items",
            "window": "hour",
            "start": minute0,
            "admitted": 5,
            "throttled": 0,
        },
    ]
    assert body["throttles"] == {"per_minute": 1}
    mw.reset_counts()
    assert mw.window_counts() == [] and not mw.throttles
