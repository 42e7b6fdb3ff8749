"""The admin endpoints: off by default, counts and controls at run time when on."""

from __future__ import annotations

import httpx

from connector.sandbox.controls import Controls, Limits

from .conftest import Clock, DummyApp, make, run


def test_admin_off_passes_through_to_the_app(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(), clock)
    assert run(mw, lambda c: c.get("/_sandbox/counts")).status_code == 404
    response = run(mw, lambda c: c.put("/_sandbox/controls", json={"limits": {"per_second": 0}}))
    assert response.status_code == 404
    assert mw.controls.limits.per_second is None


def test_admin_counts_and_reset(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(admin=True), clock)

    async def go(client: httpx.AsyncClient) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
        await client.get("/items")
        await client.post("/items")
        counts = (await client.get("/_sandbox/counts")).json()
        reset = (await client.post("/_sandbox/counts/reset")).json()
        after = (await client.get("/_sandbox/counts")).json()
        return counts, reset, after

    counts, reset, after = run(mw, go)
    assert counts == {"counts": {"GET /items": 1, "POST /items": 1}, "total": 2}
    assert reset == after == {"counts": {}, "total": 0}


def test_admin_controls_get_and_put(dummy: DummyApp, clock: Clock) -> None:
    controls = Controls(limits=Limits(per_minute=5), admin=True)
    mw = make(dummy, controls, clock)

    async def go(client: httpx.AsyncClient) -> list[httpx.Response]:
        got = await client.get("/_sandbox/controls")
        put = await client.put(
            "/_sandbox/controls",
            json={
                "limits": {"per_second": 1, "per_endpoint": {"GET /other": [2, None]}},
                "faults": {"error_rate": 0.5, "seed": 9, "latency_ms": 0},
            },
        )
        first = await client.get("/items")
        second = await client.get("/items")
        return [got, put, first, second]

    got, put, _first, second = run(mw, go)
    assert got.json()["limits"]["per_minute"] == 5
    assert got.json()["faults"]["error_rate"] == 0.0
    assert put.status_code == 200
    assert put.json()["limits"]["per_second"] == 1
    assert put.json()["limits"]["per_minute"] == 5  # untouched fields keep their values
    assert put.json()["limits"]["per_endpoint"] == {"GET /other": [2, None]}
    assert controls.faults.seed == 9 and controls.faults.error_rate == 0.5
    assert second.status_code in (429, 500, 502, 503)


def test_admin_put_rejects_bad_values(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(admin=True), clock)
    bad = [
        b"not json",
        b"[]",
        b'{"limits": {"per_secnd": 1}}',
        b'{"limits": {"per_second": -1}}',
        b'{"limits": {"per_second": true}}',
        b'{"faults": {"error_rate": 2}}',
        b'{"faults": {"seed": "x"}}',
        b'{"faults": {"fail_paths": "/items"}}',
        b'{"faults": {"fail_paths": [""]}}',
        b'{"limits": {"per_endpoint": {"GET /x": [1]}}}',
        b'{"limits": {"windows": "rolling"}}',
        b'{"limits": {"windows": 1}}',
        b'{"other": 1}',
        b"[" * 60_000,  # deep, but under the 64 KB admin body bound (413 past it)
        b"\xff",
    ]

    async def go(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [await client.put("/_sandbox/controls", content=body) for body in bad]

    for body, response in zip(bad, run(mw, go), strict=True):
        assert response.status_code == 400, body
        assert response.json()["error"] == "bad_request"
    assert mw.controls == Controls(admin=True)
    assert run(mw, lambda c: c.delete("/_sandbox/controls")).status_code == 405


def test_admin_switches_the_windows_to_sliding(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(admin=True), clock)
    put = run(mw, lambda c: c.put("/_sandbox/controls", json={"limits": {"windows": "sliding"}}))
    assert put.status_code == 200 and put.json()["limits"]["windows"] == "sliding"
    assert mw.controls.limits.windows == "sliding"


def test_admin_sets_fail_paths(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(admin=True), clock)

    async def go(client: httpx.AsyncClient) -> list[httpx.Response]:
        put = await client.put("/_sandbox/controls", json={"faults": {"fail_paths": ["/oth"]}})
        return [put, await client.get("/other"), await client.get("/items")]

    put, failed, ok = run(mw, go)
    assert put.status_code == 200 and put.json()["faults"]["fail_paths"] == ["/oth"]
    assert (failed.status_code, ok.status_code) == (503, 200)
