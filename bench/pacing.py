"""Pacing: items over time against the declared windows, with the ideal, on simulated time
and on the real clock, plus a chart of requests per window (bench/pacing.png).

Simulated time: the whole engine (`engine_session`, real runner, SQLite run log) runs a
loop of `bitly.shorten_link` against the Bitly sandbox in process, whose own window logic
(connector/sandbox/controls.py) counts on the same simulated clock. The sandbox enforces a
basic account's 100 a minute and 1,000 an hour and reports them on platform_limits, from
which the engine learns them. The ideal is the schedule of a client that knows the
server's windows exactly: each request at the first instant the server admits it. The
baseline in the same run is a naive client: 5 workers, no pacing, a fixed 1 s wait after
each throttled answer.

Real clock: `connector sandbox serve bitly --per-second 20 --per-minute 100 --per-hour
1000` in its own process; the engine learns the minute and hour figures from the sandbox
and is told 20 a second by `CONNECTOR_LIMITS_BITLY=per_second=20`. Send times are the
attempts' start times in the run log.

    .venv/bin/pip install -e '.[bench]'      # matplotlib, for the chart only
    .venv/bin/python bench/pacing.py [--real-items 120] [--no-real]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# tests.engine.pacing_sim: the same harness as the acceptance test
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _common import TOKEN, machine, sandbox

from connector.sandbox import bitly
from connector.sandbox.config import SandboxConfig
from connector.sandbox.controls import Controls, Limits
from tests.engine.conftest import SimClock
from tests.engine.pacing_sim import PacingRun, ideal_times, run_loop_against_sandbox, shorten_loop

ROOT = Path(__file__).resolve().parent.parent
WALL0 = 1_767_225_600.0  # SimClock's wall time at t=0: a minute and hour boundary
CHART = ROOT / "bench" / "pacing.png"


Naive = tuple[float, int, list[float], list[float]]


def naive(n: int, start: float) -> Naive:
    """5 workers, no pacing, 1 s wait after a throttle: (duration, throttled, times of the
    requests that succeeded, times of the throttled ones)."""
    clock = SimClock(start=start)
    limits = Limits(per_minute=100, per_hour=1000)
    app = bitly.create_app(SandboxConfig(controls=Controls(limits=limits), now=clock.wall))
    ok: list[float] = []
    refused: list[float] = []
    throttled = 0

    async def main() -> None:
        nonlocal throttled
        queue = list(range(n))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://sandbox.test/v4",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:

            async def worker() -> None:
                nonlocal throttled
                while queue:
                    i = queue.pop()
                    while True:
                        sent = clock.now()
                        r = await client.post(
                            "/shorten", json={"long_url": f"https://example.com/n/{i}"}
                        )
                        if r.status_code < 300:
                            ok.append(sent)
                            break
                        throttled += 1
                        refused.append(sent)
                        await clock.sleep(1.0)

            await asyncio.gather(*(worker() for _ in range(5)))

    clock.run(main())
    ok.sort()
    return ok[-1] - ok[0], throttled, ok, refused


def simulated() -> list[tuple[str, PacingRun, Naive | None]]:
    cases: list[tuple[str, PacingRun, Naive | None]] = []
    for n, offset, windows, skew in [
        (1000, 0.0, "fixed", 0.0),
        (1000, 30.0, "fixed", 0.0),
        (150, 0.0, "fixed", 0.0),
        (150, 30.0, "fixed", 0.0),
        (1000, 12.5, "sliding", 0.0),
        (150, 12.5, "sliding", 0.0),
        (1000, 5.0, "fixed", 29.9),
    ]:
        run = run_loop_against_sandbox(n, start=offset, windows=windows, skew=skew)
        base = naive(n, offset) if windows == "fixed" and not skew else None
        label = f"{n} items, {windows}, start :{offset:04.1f}" + (
            f", server {skew:+.1f} s off" if skew else ""
        )
        cases.append((label, run, base))
    return cases


class _Stamped(httpx.AsyncBaseTransport):
    """Loopback HTTP; notes the wall time each shorten request is handed to the network."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/shorten"):
            self.sent.append(time.time())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _real_run(api: str, n: int, home: Path) -> tuple[Any, list[float], int]:
    from connector.catalog import load_catalog
    from connector.engine.session import engine_session
    from connector.engine.workflow import validate_workflow

    catalog = load_catalog()
    workflow = validate_workflow(shorten_loop(), catalog)
    tag = f"{time.time():.0f}"
    items = [f"https://example.com/real/{tag}/{i}" for i in range(n)]
    env = {**os.environ, "CONNECTOR_LIMITS_BITLY": "per_second=20"}
    transport = _Stamped()
    async with engine_session(
        catalog,
        home / "runs.db",
        base_urls={"bitly": api},
        credentials={"bitly": TOKEN},
        rng=random.Random(1),
        env=env,
        transport=transport,
    ) as engine:
        result = await engine.run(workflow, {"items": items})
        budget = engine.budgets["bitly"]
    return result, sorted(transport.sent), budget.throttles


def real(n: int) -> tuple[Any, list[float], int, list[float]]:
    with (
        sandbox("--per-second", "20", "--per-minute", "100", "--per-hour", "1000") as box,
        tempfile.TemporaryDirectory() as home,
    ):
        result, sends, throttles = asyncio.run(_real_run(box.api, n, Path(home)))
    caps = [(20, 1.0), (100, 60.0), (1000, 3600.0)]
    ideal = ideal_times(len(sends), sends[0], caps, sliding=False)
    return result, sends, throttles, ideal


def _per_window(times: list[float], period: float, wall0: float = 0.0) -> list[int]:
    counts = Counter(int((t + wall0) // period) for t in times)
    first, last = min(counts), max(counts)
    return [counts.get(i, 0) for i in range(first, last + 1)]


def chart(sim: PacingRun, base: Naive, real_run: Any | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = 2 if real_run else 1
    fig, axes = plt.subplots(rows, 2, figsize=(13, 4.6 * rows), squeeze=False)
    t0 = sim.sends[0]
    ax = axes[0][0]
    ax.step([(t - t0) / 60 for t in sim.ideal], range(1, len(sim.ideal) + 1), where="post",
            label="ideal (windows known)", lw=4, alpha=0.35, color="tab:green")  # fmt: skip
    ax.step([(t - t0) / 60 for t in sim.sends], range(1, len(sim.sends) + 1), where="post",
            label=f"engine: {sim.duration:.0f} s, 0 throttled", color="tab:blue")  # fmt: skip
    b0 = base[2][0]
    ax.step([(t - b0) / 60 for t in base[2]], range(1, len(base[2]) + 1), where="post",
            label=f"naive 5 workers, 1 s wait: {base[0]:.0f} s, {base[1]:,} throttled",
            color="tab:red", ls="--")  # fmt: skip
    ax.set(xlabel="minutes", ylabel="items done",
           title="1,000 items at 100/min and 1,000/h (simulated time)")  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[0][1]
    per_minute = _per_window(sim.sends, 60.0, WALL0)
    first = int((sim.sends[0] + WALL0) // 60)
    refused = Counter(int((t + WALL0) // 60) - first for t in base[3])
    x = range(len(per_minute))
    ax.bar([i - 0.2 for i in x], per_minute, width=0.4, color="tab:blue",
           label="engine: answered")  # fmt: skip
    ax.bar([i + 0.2 for i in x], [refused.get(i, 0) for i in x], width=0.4, color="tab:red",
           alpha=0.6, label="naive client: throttled answers")  # fmt: skip
    ax.axhline(100, color="black", ls=":", label="declared limit: 100 a minute")
    ax.set(xlabel="minute window (clock-aligned)", ylabel="requests",
           title="Requests per minute window (simulated)")  # fmt: skip
    ax.legend(loc="upper right", fontsize=8)
    if real_run:
        _, sends, throttles, ideal = real_run
        s0 = sends[0]
        ax = axes[1][0]
        ax.step([t - s0 for t in ideal], range(1, len(ideal) + 1), where="post", lw=4,
                alpha=0.35, color="tab:green", label="ideal")  # fmt: skip
        ax.step([t - s0 for t in sends], range(1, len(sends) + 1), where="post",
                color="tab:blue", label=f"engine: {sends[-1] - s0:.1f} s, "
                f"{throttles} throttled")  # fmt: skip
        ax.set(xlabel="seconds", ylabel="items done",
               title=f"{len(sends)} items at 20/s and 100/min (real clock)")  # fmt: skip
        ax.legend(loc="lower right", fontsize=8)
        ax = axes[1][1]
        per_second = _per_window(sends, 1.0)
        ax.bar(range(len(per_second)), per_second, color="tab:blue")
        ax.axhline(20, color="black", ls=":", label="20 a second")
        ax.set(xlabel="second window (clock-aligned)", ylabel="requests",
               title="Requests per second window (real clock)")  # fmt: skip
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real-items", type=int, default=120)
    parser.add_argument("--no-real", action="store_true", help="skip the real-clock run")
    parser.add_argument("--no-chart", action="store_true")
    args = parser.parse_args()
    print(machine())
    print("\nsimulated time (the sandbox's own windows on the same clock)")
    print(f"{'case':<50} {'engine s':>9} {'ideal s':>8} {'ratio':>6} {'throttled':>9}"
          f" {'naive s':>8} {'naive thr':>9}")  # fmt: skip
    cases = simulated()
    for label, run, base in cases:
        naive_cols = f"{base[0]:>8.1f} {base[1]:>9,}" if base else f"{'':>8} {'':>9}"
        print(f"{label:<50} {run.duration:>9.1f} {run.ideal_duration:>8.1f} {run.ratio:>6.3f}"
              f" {run.throttled:>9} {naive_cols}")  # fmt: skip
    real_run = None
    if not args.no_real:
        print(f"\nreal clock: {args.real_items} items at 20/s, 100/min, 1,000/h")
        real_run = real(args.real_items)
        result, sends, throttles, ideal = real_run
        took, best = sends[-1] - sends[0], ideal[-1] - ideal[0]
        print(f"status {result.status}; {len(sends)} requests in {took:.2f} s, ideal {best:.2f} s"
              f" (ratio {took / best if best else float('nan'):.3f}); {throttles} throttled;"
              f" most in one second: {max(_per_window(sends, 1.0))}")  # fmt: skip
    if not args.no_chart:
        chart(cases[1][1], cases[1][2] or naive(1000, 30.0), real_run)
        print(f"\nchart: {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
