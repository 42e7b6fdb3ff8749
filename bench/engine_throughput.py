"""Engine throughput against a plain httpx asyncio script, same requests, same concurrency.

The Bitly sandbox runs in its own process. For each concurrency, rounds alternate between
  - baseline: one httpx.AsyncClient (pool = concurrency), that many workers sending
    GET /v4/bitlinks/{bitlink}/clicks?unit=day&units=7 and decoding the JSON;
  - engine: a workflow with one loop step (batch_size = concurrency) calling
    bitly.get_link_click_metrics for the same bitlinks, through `engine_session` with the
    real runner and the SQLite run log (a fresh file per round), as `connector run` does.
The manifest's Bitly budget (5 at once, 100/min, 1,000/h) would pace this to a crawl, so the
benchmark overrides it with `concurrency=N` and no rate windows. Run:

    .venv/bin/python bench/engine_throughput.py [--items 2000] [--rounds 3] [--concurrency 5 50]
"""

from __future__ import annotations

import argparse
import asyncio
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
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
        print(f"{'conc':>4} {'round':>5} {'httpx items/s':>14} {'engine items/s':>15} {'ratio':>6}")
        for concurrency in args.concurrency:
            overrides = {"bitly": RateLimitSpec(concurrency=concurrency)}
            base_rates, engine_rates = [], []
            for round_no in range(1, args.rounds + 1):
                seconds, failures = asyncio.run(baseline(box, links, concurrency))
                base_rates.append(args.items / seconds)
                db = Path(tmp) / f"runs-{concurrency}-{round_no}.db"
                run = asyncio.run(
                    run_engine(box, links, batch_size=concurrency, runlog=db, overrides=overrides)
                )
                engine_rates.append(run.rate)
                if failures or run.status != "succeeded":
                    ok = False
                    print(f"  failures: baseline {failures}, engine {run.status} {run.summary}")
                print(
                    f"{concurrency:>4} {round_no:>5} {base_rates[-1]:>14.0f} "
                    f"{engine_rates[-1]:>15.0f} {engine_rates[-1] / base_rates[-1]:>6.0%}"
                )
            base, eng = statistics.median(base_rates), statistics.median(engine_rates)
            verdict = "PASS" if eng >= 0.8 * base else "FAIL"
            ok = ok and verdict == "PASS"
            print(
                f"{concurrency:>4} {'median':>5} {base:>14.0f} {eng:>15.0f} {eng / base:>6.0%}"
                f"  target >= 80%: {verdict}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
