"""Counts, per-second/minute/hour windows, per-endpoint overrides, concurrency, monthly quota."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from connector.sandbox.controls import Controls, ControlsMiddleware, Limits

from .conftest import Clock, DummyApp, DummyDialect, make, run


def statuses(mw, requests):  # type: ignore[no-untyped-def]
    async def go(client: httpx.AsyncClient) -> list[int]:
        out = []
        for method, path in requests:
            out.append((await client.request(method, path)).status_code)
        return out

    return run(mw, go)


def test_counts_every_request_per_endpoint_key(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(limits=Limits(per_second=1)), clock)
    codes = statuses(mw, [("GET", "/items")] * 3 + [("POST", "/items"), ("GET", "/free")])
    assert codes == [200, 429, 429, 200, 200]
    # throttled requests are counted too; keyless requests are neither counted nor limited
    assert mw.counts == {"GET /items": 3, "POST /items": 1}
    mw.reset_counts()
    assert mw.counts == {}


def test_per_second_window_resets_next_second(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(limits=Limits(per_second=2)), clock)
    assert statuses(mw, [("GET", "/items")] * 3) == [200, 200, 429]
    clock.t += 1
    assert statuses(mw, [("GET", "/items")] * 3) == [200, 200, 429]
    assert dummy.handled == 4


def test_per_minute_throttle_names_reason_and_retry_hint(dummy: DummyApp, clock: Clock) -> None:
    clock.t += 15  # 45 s left in the minute
    mw = make(dummy, Controls(limits=Limits(per_minute=1)), clock)

    async def go(client: httpx.AsyncClient) -> httpx.Response:
        await client.get("/items")
        return await client.get("/items")

    response = run(mw, go)
    assert response.status_code == 429
    assert response.json()["reason"] == "per_minute"
    assert response.headers["Retry-After"] == "45"


def test_limits_are_per_endpoint_key(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(limits=Limits(per_hour=1)), clock)
    codes = statuses(mw, [("GET", "/items"), ("GET", "/other"), ("GET", "/items")])
    assert codes == [200, 200, 429]
    clock.t += 3600
    assert statuses(mw, [("GET", "/items")]) == [200]


def test_per_endpoint_override(dummy: DummyApp, clock: Clock) -> None:
    limits = Limits(per_minute=1, per_endpoint={"GET /other": (3, None)})
    mw = make(dummy, Controls(limits=limits), clock)
    codes = statuses(mw, [("GET", "/other")] * 4 + [("GET", "/items")] * 2)
    assert codes == [200, 200, 200, 429, 200, 429]


def test_rejected_requests_do_not_consume_windows(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(limits=Limits(per_second=1, per_minute=2)), clock)
    assert statuses(mw, [("GET", "/items")] * 5) == [200, 429, 429, 429, 429]
    clock.t += 1
    assert statuses(mw, [("GET", "/items")] * 2) == [200, 429]
    clock.t += 1
    response_reason = run(mw, lambda c: c.get("/items")).json()["reason"]
    assert response_reason == "per_minute"


def test_monthly_quota_resets_on_the_first(dummy: DummyApp) -> None:
    clock = Clock(1_769_903_999.0)  # 2026-01-31T23:59:59Z
    mw = make(dummy, Controls(limits=Limits(monthly_quota=2)), clock)
    codes = statuses(mw, [("GET", "/items"), ("GET", "/other"), ("GET", "/items")])
    assert codes == [200, 200, 429]
    assert run(mw, lambda c: c.get("/items")).json() == {"error": "quota"}
    clock.t += 1  # February
    assert statuses(mw, [("GET", "/items")] * 3) == [200, 200, 429]


def test_concurrency_cap(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(limits=Limits(concurrency=2)), clock)

    async def go(client: httpx.AsyncClient) -> tuple[list[int], int]:
        dummy.gate = asyncio.Event()
        held = [asyncio.create_task(client.get("/items")) for _ in range(2)]
        while dummy.handled < 2:
            await asyncio.sleep(0)
        third = await client.get("/items")
        dummy.gate.set()
        done = [(await t).status_code for t in held]
        after = (await client.get("/items")).status_code
        assert third.json()["reason"] == "concurrency"
        return [*done, third.status_code, after], dummy.handled

    codes, handled = run(mw, go)
    assert codes == [200, 200, 429, 200]
    assert handled == 3


def test_in_flight_released_when_app_raises(clock: Clock) -> None:
    async def broken(scope, receive, send):  # type: ignore[no-untyped-def]
        raise ValueError("boom")

    mw = ControlsMiddleware(broken, Controls(limits=Limits(concurrency=1)), DummyDialect(), clock)

    async def go(client: httpx.AsyncClient) -> None:
        for _ in range(2):
            with contextlib.suppress(ValueError):
                await client.get("/x")

    run(mw, go)
    assert mw._in_flight == 0
    assert mw.counts["GET /x"] == 2


def test_sliding_windows_count_any_interval_of_the_windows_length(
    dummy: DummyApp, clock: Clock
) -> None:
    clock.t += 50  # 10 s before a clock-aligned minute ends
    mw = make(dummy, Controls(limits=Limits(per_minute=2, windows="sliding")), clock)
    assert statuses(mw, [("GET", "/items")] * 2) == [200, 200]
    clock.t += 15  # a new clock minute, but not a minute after the first two
    assert statuses(mw, [("GET", "/items")]) == [429]
    assert mw.used_this_hour("GET /items") == 3  # no hourly window kept: every request
    clock.t += 45.5
    assert statuses(mw, [("GET", "/items")] * 3) == [200, 200, 429]


def test_used_this_hour_counts_admitted_requests_in_the_current_hour(
    dummy: DummyApp, clock: Clock
) -> None:
    mw = make(dummy, Controls(limits=Limits(per_hour=2)), clock)
    assert statuses(mw, [("GET", "/items")] * 3) == [200, 200, 429]
    assert mw.used_this_hour("GET /items") == 2
    clock.t += 3600
    assert mw.used_this_hour("GET /items") == 0
