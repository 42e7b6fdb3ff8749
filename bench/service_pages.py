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

A loop still running has no summary to read its counts from: a run of N - 4,000 items whose
loop is running, viewed as a run's page polls it, 250 items written between views (not
timed), the median of 11 views (and the rows each view counted); and the first view of it
in a service process (which counts every block once). A run whose trigger payload holds the
loop's N URLs: its view, polled.

    .venv/bin/python bench/service_pages.py [--items 1000000]    # ~3 min, 600 MB of /tmp
    git archive 5d8ae8f | tar -x -C /tmp/old                     # the code before, to compare:
    PYTHONPATH=/tmp/old .venv/bin/python bench/service_pages.py
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
from loop_runs import write_items, write_loop_run

from connector.engine.runlog import RunLog

KEY = "bench-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
READS = 5
#: items a running loop has yet to write when its views start, and written between views
FRONTIER = 4000
BETWEEN = 250
#: views of the running loop (each after BETWEEN items are written)
POLLS = 11


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


async def _first_view(config: ServiceConfig, warm_id: str, url: str) -> tuple[float, int]:
    """The seconds of the first read of `url` in a new service process (warmed on another
    run), and the traced peak bytes of the first read in another."""
    out = []
    for traced in (False, True):
        app = create_app(config)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service"
        ) as client:
            await client.get(f"/v1/runs/{warm_id}", headers=AUTH)
            if traced:
                tracemalloc.start()
            started = time.perf_counter()
            assert (await client.get(url, headers=AUTH)).status_code == 200
            out.append(time.perf_counter() - started)
            if traced:
                out[-1] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        await app.state.service.launcher.close()
    return out[0], int(out[1])


async def _running_figures(
    config: ServiceConfig, warm_id: str, run_id: str, trigger_id: str, total: int
) -> dict[str, tuple[float, int]]:
    """The views of a running loop (the first in this service process, then polled with
    items written between views) and of a run with a big trigger payload."""
    app = create_app(config)
    view = f"/v1/runs/{run_id}"
    out = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as client:
        await client.get(f"/v1/runs/{warm_id}", headers=AUTH)  # warm, on another run
        await client.get(view, headers=AUTH)  # the first view: measured by _first_view
        times, peak = [], 0
        written = total - FRONTIER
        with RunLog(config.runlog_target) as log:
            kept = getattr(app.state.service, "loop_counts", None)  # None: the code before
            rows_before = kept.rows_read if kept else 0
            for read in range(POLLS + 1):  # the last one traced, not timed
                write_items(log, run_id, range(written, written + BETWEEN))
                written += BETWEEN
                if read == POLLS:
                    tracemalloc.start()
                started = time.perf_counter()
                answer = await client.get(view, headers=AUTH)
                times.append(time.perf_counter() - started)
                if read == POLLS:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                counts = answer.json()["steps"][0]["items"]["counts"]
                assert sum(counts.values()) == written, (counts, written)
        times.pop()
        if kept:
            rows = (kept.rows_read - rows_before) / (POLLS + 1)
            print(f"  {total:,}: rows counted per polled view of the running loop: {rows:,.0f}")
        name = f"running loop: view polled ({BETWEEN} items written between)"
        out[name] = (statistics.median(times), peak)
        out["run view, trigger of N URLs (polled)"] = await _measure(
            client, f"/v1/runs/{trigger_id}", {}
        )
    await app.state.service.launcher.close()
    return out | {
        "running loop: first view in a process": await _first_view(config, warm_id, view),
        "trigger of N URLs: first view in a process": await _first_view(
            config, warm_id, f"/v1/runs/{trigger_id}"
        ),
    }


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
            running_id = write_loop_run(home / "runs.db", total - FRONTIER, running=True)
            urls = [f"https://example.com/page/{i}" for i in range(total)]
            trigger_id = write_loop_run(home / "runs.db", 10, trigger={"urls": urls})
            del urls
            print(f"wrote the runs of {total:,} items in {time.perf_counter() - started:.1f} s")
            results[total] = asyncio.run(_figures(config, run_id, total))
            results[total] |= asyncio.run(
                _running_figures(config, run_id, running_id, trigger_id, total)
            )
    small, big = results[args.baseline], results[args.items]
    print(f"\n| read | {args.baseline:,} items | {args.items:,} items | time ratio | "
          "peak traced (baseline / big) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name in small:
        (t0, m0), (t1, m1) = small[name], big[name]
        memory = f"{m0 / 2**20:.2f} / {m1 / 2**20:.2f} MiB"
        print(f"| {name} | {t0 * 1000:.1f} ms | {t1 * 1000:.1f} ms | {t1 / t0:.2f}x | "
              f"{memory} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
