"""The whole engine against the Bitly sandbox, in process, on simulated time.

The sandbox's own window logic (connector/sandbox/controls.py) counts on the same
simulated clock (optionally skewed), so hours of API time pass in seconds and what is
measured is exactly what the server saw. `ideal_times` is the schedule a client that knew
the server's windows exactly would achieve: each request at the first instant the server
admits it.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from connector.catalog import load_catalog
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Limits

from .conftest import SimClock

SHORTEN = ("POST", "/v4/shorten")


class RecordingTransport(httpx.AsyncBaseTransport):
    """ASGI in process; records (time, method, path, status) and what is in flight."""

    def __init__(self, app: Any, clock: SimClock) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.clock = clock
        self.inflight = 0
        self.log: list[tuple[float, str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.inflight += 1
        sent = self.clock.now()
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        finally:
            self.inflight -= 1
        self.log.append((sent, request.method, request.url.path, response.status_code))
        return response

    def sends(self, method: str, path: str) -> list[float]:
        return [t for t, m, p, _ in self.log if (m, p) == (method, path)]

    @property
    def throttled(self) -> int:
        return sum(1 for *_, status in self.log if status in (403, 429))


@dataclass
class PacingRun:
    ok: bool
    sends: list[float]
    throttled: int
    ideal: list[float]
    log: list[tuple[float, str, str, int]] = field(repr=False)

    @property
    def duration(self) -> float:
        return self.sends[-1] - self.sends[0]

    @property
    def ideal_duration(self) -> float:
        return self.ideal[-1] - self.ideal[0]

    @property
    def ratio(self) -> float:
        return self.duration / self.ideal_duration if self.ideal_duration else math.inf


def ideal_times(n: int, start: float, caps: list[tuple[int, float]], sliding: bool) -> list[float]:
    """Earliest server-admitted time of each of `n` requests from `start` (server clock)."""
    out: list[float] = []
    recent = {period: deque[float]() for _, period in caps}
    counts: dict[tuple[float, int], int] = {}
    t = start
    for _ in range(n):
        while True:
            later = t
            for cap, period in caps:
                if sliding:
                    times = recent[period]
                    if len(times) >= cap:
                        later = max(later, times[-cap] + period)
                elif counts.get((period, int(t // period)), 0) >= cap:
                    later = max(later, (int(t // period) + 1) * period)
            if later == t:
                break
            t = later
        for _cap, period in caps:
            recent[period].append(t)
            key = (period, int(t // period))
            counts[key] = counts.get(key, 0) + 1
        out.append(t)
    return out


def shorten_loop(limits: dict[str, Any] | None = None) -> dict[str, Any]:
    """A workflow: one loop of bitly.shorten_link over `trigger.items`, 5 at a time."""
    doc: dict[str, Any] = {
        "name": "pacing",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.items }}", "batch_size": 5},
                "action": "bitly.shorten_link",
                "inputs": {"long_url": "{{ item }}"},
            }
        ],
    }
    if limits is not None:
        doc["limits"] = limits
    return doc


def run_loop_against_sandbox(
    n: int,
    *,
    start: float,
    per_minute: int = 100,
    per_hour: int | None = 1000,
    windows: str = "fixed",
    skew: float = 0.0,
    used_before: int = 0,
) -> PacingRun:
    """`n` shorten items through a workflow loop; the app declares `windows`; the sandbox
    counts fixed (clock-aligned) or sliding windows `skew` seconds off our clock.
    `used_before` shorten requests are sent first by another client on the same token."""
    clock = SimClock(start=start)
    limits = Limits(per_minute=per_minute, per_hour=per_hour, windows=windows)
    app = bitly.create_app(
        SandboxConfig(controls=Controls(limits=limits), now=lambda: clock.wall() + skew)
    )
    transport = RecordingTransport(app, clock)
    clock.busy = lambda: transport.inflight > 0
    catalog = load_catalog()
    spec = catalog.apps["bitly"]
    limits = spec.rate_limits.model_copy(update={"windows": windows})
    catalog.apps["bitly"] = spec.model_copy(update={"rate_limits": limits})
    workflow = validate_workflow(shorten_loop(), catalog)
    urls = [f"https://example.com/pacing/{i:05d}" for i in range(n)]

    async def go() -> bool:
        if used_before:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                headers={"Authorization": f"Bearer {DEMO_BITLY_TOKEN}"},
            ) as other:
                for i in range(used_before):
                    await other.post(
                        "http://sandbox.test/v4/shorten",
                        json={"long_url": f"https://example.com/other/{i}"},
                    )
        async with engine_session(
            catalog,
            ":memory:",
            base_urls={"bitly": "http://sandbox.test/v4"},
            credentials={"bitly": DEMO_BITLY_TOKEN},
            transport=transport,
            clock=clock,
            rng=random.Random(1),
            env={},
        ) as engine:
            result = await engine.run(workflow, {"items": urls})
            return result.ok

    ok = clock.run(go())
    sends = transport.sends(*SHORTEN)
    first = clock.wall_of(sends[0]) + skew if sends else 0.0
    caps = [(cap, period) for cap, period in ((per_minute, 60.0), (per_hour, 3600.0)) if cap]
    ideal = ideal_times(n, first, caps, windows == "sliding")
    shift = sends[0] - first if sends else 0.0
    return PacingRun(
        ok=ok,
        sends=sends,
        throttled=transport.throttled,
        ideal=[t + shift for t in ideal],
        log=transport.log,
    )
