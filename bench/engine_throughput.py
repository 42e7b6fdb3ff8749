"""Engine throughput against a plain httpx asyncio script, same requests, same concurrency.

The Bitly sandbox runs in its own process. For each concurrency, rounds alternate between
  - baseline: one httpx.AsyncClient (pool = concurrency), that many workers sending
    GET /v4/bitlinks/{bitlink}/clicks?unit=day&units=7 and decoding the JSON;
  - engine: a workflow with one loop step (batch_size = concurrency) calling
    bitly.get_link_click_metrics for the same bitlinks, through `engine_session` with the
    real runner and the SQLite run log (a fresh file per round), as `connector run` does.
The manifest's Bitly budget (5 at once, 100/min, 1,000/h) would pace this to a crawl, so the
benchmark overrides it with `concurrency=N` and no rate windows. The verdict uses the median
of the per-round ratios (each engine round is paired with the httpx round just before it, so a
burst of load from elsewhere on the machine hits both sides of a pair alike). Run:

    .venv/bin/python bench/engine_throughput.py [--items 2000] [--rounds 5] [--concurrency 5 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import QUERY, TOKEN, Sandbox, demo_bitlinks, items_for, machine, run_engine, sandbox

from connector.engine.rate_budget import RateLimitSpec


async def baseline(box: Sandbox, links: Sequence[str], concurrency: int) -> tuple[float, int]:
    """Seconds for the plain script to fetch every link's clicks; and its non-200 count."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for link in links:
        queue.put_nowait(link)
    failures = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while True:
            try:
                link = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            response = await client.get(f"bitlinks/{link}/clicks", params=QUERY)
            if response.status_code != 200:
                failures += 1
            response.json()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=box.api + "/",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
        limits=limits,
    ) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - t0, failures


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[5, 50])
    args = parser.parse_args(argv)

    print(machine())
    ok = True
    with sandbox() as box, tempfile.TemporaryDirectory() as tmp:
        links = items_for(demo_bitlinks(box), args.items)
        # Warm both paths (imports, connections, the sandbox's caches) before measuring.
        asyncio.run(baseline(box, links[:100], 5))
        warm = {"bitly": RateLimitSpec(concurrency=5)}
        asyncio.run(
            run_engine(box, links[:100], batch_size=5, runlog=Path(tmp) / "warm.db", overrides=warm)
        )
        print(f"{args.items} items of GET /v4/bitlinks/{{bitlink}}/clicks?unit=day&units=7")
        print("items/s, and this process's CPU per item (ms); rounds alternate httpx and engine")
        print(f"{'conc':>4} {'round':>6} {'httpx':>7} {'engine':>7} {'ratio':>6}"
              f" {'httpx cpu':>10} {'engine cpu':>11}")  # fmt: skip
        for concurrency in args.concurrency:
            overrides = {"bitly": RateLimitSpec(concurrency=concurrency)}
            rows: list[tuple[float, float, float, float]] = []
            for round_no in range(1, args.rounds + 1):
                c0 = cpu_seconds()
                seconds, failures = asyncio.run(baseline(box, links, concurrency))
                c1 = cpu_seconds()
                db = Path(tmp) / f"runs-{concurrency}-{round_no}.db"
                run = asyncio.run(
                    run_engine(box, links, batch_size=concurrency, runlog=db, overrides=overrides)
                )
                c2 = cpu_seconds()
                if failures or run.status != "succeeded":
                    ok = False
                    print(f"  failures: baseline {failures}, engine {run.status} {run.summary}")
                row = (args.items / seconds, run.rate,
                       1000 * (c1 - c0) / args.items, 1000 * (c2 - c1) / args.items)  # fmt: skip
                rows.append(row)
                print(_line(concurrency, str(round_no), *row))
            base, eng, base_cpu, eng_cpu = (statistics.median(r[i] for r in rows) for i in range(4))
            ratio = statistics.median(r[1] / r[0] for r in rows)
            verdict = "PASS" if ratio >= 0.8 else "FAIL"
            ok = ok and verdict == "PASS"
            print(_line(concurrency, "median", base, eng, base_cpu, eng_cpu, ratio=ratio)
                  + f"  target >= 80%: {verdict}")  # fmt: skip
    return 0 if ok else 1


def _line(concurrency: int, label: str, base: float, engine: float, base_cpu: float,
          engine_cpu: float, ratio: float | None = None) -> str:  # fmt: skip
    ratio = engine / base if ratio is None else ratio
    return (
        f"{concurrency:>4} {label:>6} {base:>7.0f} {engine:>7.0f} {ratio:>6.0%}"
        f" {base_cpu:>10.2f} {engine_cpu:>11.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
