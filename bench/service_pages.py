"""The service's view of a big run: `GET /v1/runs/{id}` and pages of its loop's items, for a
loop of 1,000,000 items against a baseline of 10,000 in the same run.

Each run is written straight into a SQLite run log as the engine writes one (item rows a
page per transaction, outputs by reference; every 7th item failed), so the benchmark
measures reading, not running. The service is `create_app` in this process, called
through httpx's ASGI transport (no sockets: the time is the service's own). For each run:
the run's view, the first page of 1,000 items, the page after item N-1,001 (the end, by
`next_cursor`), the page before it (by `prev_cursor`), and the last page of failed items;
each the median of 5 reads, and the largest traced allocation (tracemalloc) of one read.
Keyset cursors make a page at the end cost what the first one does; the ratios say whether
they do.

    .venv/bin/python bench/service_pages.py [--items 1000000]    # ~1 min, 300 MB of /tmp
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from connector.service import ServiceConfig, create_app
from connector.service.cursors import after_item, before_item

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "service"))  # its writer
from _common import machine
from loop_runs import write_loop_run

KEY = "bench-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
READS = 5


async def _measure(
    client: httpx.AsyncClient, url: str, params: dict[str, Any]
) -> tuple[float, int]:
    """Median seconds of READS reads, and the traced peak bytes of one."""
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        answer = await client.get(url, params=params, headers=AUTH)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    tracemalloc.start()
    try:
        await client.get(url, params=params, headers=AUTH)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return statistics.median(times), peak


async def _figures(config: ServiceConfig, run_id: str, total: int) -> dict[str, tuple[float, int]]:
    app = create_app(config)
    items = f"/v1/runs/{run_id}/steps/shorten/items"
    last_failed = max(i for i in range(total - 7, total) if i % 7 == 3)
    reads: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
        "run view (GET /v1/runs/{id})": (f"/v1/runs/{run_id}", dict),
        "first page of 1,000": (items, lambda: {"limit": 1000}),
        "page at the end (next_cursor)": (
            items, lambda: {"limit": 1000, "cursor": after_item(total - 1001)}
        ),
        "page before it (prev_cursor)": (
            items, lambda: {"limit": 1000, "cursor": before_item(total - 1000)}
        ),
        "last failed items (status=failed)": (
            items,
            lambda: {"limit": 1000, "status": "failed", "cursor": before_item(last_failed + 1)},
        ),
    }  # fmt: skip
    out = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as client:
        await client.get(f"/v1/runs/{run_id}", headers=AUTH)  # warm: imports, first connection
        for name, (url, params) in reads.items():
            out[name] = await _measure(client, url, params())
    await app.state.service.launcher.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="service-pages-") as folder:
        home = Path(folder)
        config = ServiceConfig(home=home, api_keys=(KEY,), sandbox=True)
        results = {}
        for total in (args.baseline, args.items):
            started = time.perf_counter()
            run_id = write_loop_run(home / "runs.db", total)
            print(f"wrote a run of {total:,} items in {time.perf_counter() - started:.1f} s")
            results[total] = asyncio.run(_figures(config, run_id, total))
    small, big = results[args.baseline], results[args.items]
    print(f"\n| read | {args.baseline:,} items | {args.items:,} items | time ratio | "
          "peak traced (baseline / big) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name in small:
        (t0, m0), (t1, m1) = small[name], big[name]
        print(f"| {name} | {t0 * 1000:.1f} ms | {t1 * 1000:.1f} ms | {t1 / t0:.2f}x | "
              f"{m0 / 2**20:.2f} / {m1 / 2**20:.2f} MiB |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
