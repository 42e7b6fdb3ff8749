"""Injected faults: server errors, drops, lost writes, latency; same seed, same sequence."""

from __future__ import annotations

import httpx
import pytest

from connector.sandbox.controls import Controls, Faults
from connector.sandbox.server import BackgroundServer

from .conftest import Clock, DummyApp, make, run


def outcomes(mw, requests):  # type: ignore[no-untyped-def]
    async def go(client: httpx.AsyncClient) -> list[object]:
        out: list[object] = []
        for method, path in requests:
            try:
                out.append((await client.request(method, path)).status_code)
            except httpx.RemoteProtocolError:
                out.append("cut")
        return out

    return run(mw, go)


MIXED = [("GET", "/items"), ("POST", "/items")] * 40


def faulty(seed: int) -> Controls:
    return Controls(faults=Faults(error_rate=0.2, drop_rate=0.1, lost_write_rate=0.3, seed=seed))


def test_fail_paths_fail_those_paths_every_time_in_any_order(clock: Clock) -> None:
    controls = Controls(faults=Faults(fail_paths=("/other",)))
    paths = [("GET", "/items"), ("GET", "/other"), ("GET", "/free"), ("GET", "/other")]
    forward = outcomes(make(DummyApp(), controls, clock), paths)
    backward = outcomes(make(DummyApp(), controls, clock), paths[::-1])
    assert forward == [200, 503, 200, 503]
    assert backward == forward[::-1]


def test_same_seed_same_fault_sequence(clock: Clock) -> None:
    first = outcomes(make(DummyApp(), faulty(7), clock), MIXED)
    second = outcomes(make(DummyApp(), faulty(7), clock), MIXED)
    other = outcomes(make(DummyApp(), faulty(8), clock), MIXED)
    assert first == second
    assert first != other
    assert {500, 502, 503, "cut", 200} <= set(first)


def test_reset_faults_replays_the_sequence(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, faulty(3), clock)
    first = outcomes(mw, MIXED)
    mw.reset_faults()
    assert outcomes(mw, MIXED) == first


def test_server_errors_come_before_handling(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(faults=Faults(error_rate=1.0, seed=1)), clock)
    codes = outcomes(mw, [("POST", "/items")] * 30)
    assert set(codes) == {500, 502, 503}
    assert dummy.handled == 0
    body = run(mw, lambda c: c.get("/items")).json()
    assert body["error"] == "server"


def test_drop_cuts_before_handling_in_process(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(faults=Faults(drop_rate=1.0)), clock)
    assert outcomes(mw, [("POST", "/items"), ("GET", "/items")]) == ["cut", "cut"]
    assert dummy.handled == 0


def test_lost_write_applies_then_cuts_reads_untouched(dummy: DummyApp, clock: Clock) -> None:
    mw = make(dummy, Controls(faults=Faults(lost_write_rate=1.0)), clock)
    assert outcomes(mw, [("POST", "/items"), ("GET", "/items")]) == ["cut", 200]
    assert dummy.writes == 1


def test_latency_uses_injected_sleep(dummy: DummyApp, clock: Clock) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    mw = make(dummy, Controls(faults=Faults(latency_ms=250)), clock, sleep=sleep)
    assert outcomes(mw, [("GET", "/items")] * 2) == [200, 200]
    assert slept == [0.25, 0.25]


CUT = (httpx.RemoteProtocolError, httpx.ReadError)


@pytest.mark.parametrize("kind", ["drop", "lost_write"])
def test_cut_over_loopback_is_a_transport_error(kind: str, dummy: DummyApp, clock: Clock) -> None:
    faults = Faults(drop_rate=1.0) if kind == "drop" else Faults(lost_write_rate=1.0)
    mw = make(dummy, Controls(faults=faults), clock)
    with BackgroundServer(mw) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(2):
            # The socket closes with nothing sent; depending on timing the client reads EOF
            # (RemoteProtocolError) or a reset (ReadError): both are "no response".
            with pytest.raises(CUT):
                client.post("/items", json={})
        if kind == "lost_write":
            assert client.get("/items").status_code == 200
    assert dummy.writes == (2 if kind == "lost_write" else 0)


def test_seeded_sequence_is_the_same_over_loopback(clock: Clock) -> None:
    requests = MIXED[:30]
    expected = outcomes(make(DummyApp(), faulty(11), clock), requests)
    mw = make(DummyApp(), faulty(11), clock)
    seen: list[object] = []
    with BackgroundServer(mw) as server, httpx.Client(base_url=server.url) as client:
        for method, path in requests:
            try:
                seen.append(client.request(method, path).status_code)
            except CUT:
                seen.append("cut")
    assert seen == expected
