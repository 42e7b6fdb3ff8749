"""Peak memory, run-log size and run-log write time of a 20,000-item loop.

The Bitly sandbox runs in its own process; this process runs the engine only, so its peak
resident set (VmHWM from /proc/self/status) is the engine's, with the catalog, the httpx
client, 20,000 trigger items, their 20,000 outputs (kept: later steps may template over
them) and the SQLite run log. Every run-log write is timed. Run:

    .venv/bin/python bench/engine_memory.py [--items 20000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    current_rss_mb,
    demo_bitlinks,
    items_for,
    machine,
    peak_rss_mb,
    run_engine,
    sandbox,
)

from connector.engine.rate_budget import RateLimitSpec
from connector.engine.runlog import RunLog

LIMIT_MB = 300.0


class TimedRunLog(RunLog):
    """The real run log, with the time spent in each kind of write added up."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def _timed(self, name: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self.calls[name] = self.calls.get(name, 0) + 1

    def create_run(self, **kwargs: Any) -> str:
        return str(self._timed("create_run", super().create_run, **kwargs))

    def finish_run(self, run_id: str, **kwargs: Any) -> None:
        self._timed("finish_run", super().finish_run, run_id, **kwargs)

    def write_step(self, run_id: str, step_id: str, **kwargs: Any) -> None:
        self._timed("write_step", super().write_step, run_id, step_id, **kwargs)

    def write_item(self, run_id: str, record: Any) -> str | None:
        # Returned: the loop assembles its output from the items' JSON.
        text: str | None = self._timed("write_item", super().write_item, run_id, record)
        return text


def file_mb(path: Path) -> float:
    """The database with its WAL and shared-memory files, in MiB."""
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args(argv)

    print(machine())
    with sandbox() as box, tempfile.TemporaryDirectory() as tmp:
        links = items_for(demo_bitlinks(box), args.items)
        overrides = {"bitly": RateLimitSpec(concurrency=args.concurrency)}
        # Imports and the catalog loaded, connections not yet: the floor before the run.
        from connector.catalog import load_catalog

        load_catalog()
        before = current_rss_mb()
        db = Path(tmp) / "runs.db"
        log = TimedRunLog(db)
        try:
            run = asyncio.run(
                run_engine(box, links, batch_size=args.concurrency, runlog=log, overrides=overrides)
            )
            size_open = file_mb(db)
        finally:
            log.close()  # the last connection checkpoints the WAL into the database
        peak = peak_rss_mb()
        size = file_mb(db)

    writes = sum(log.seconds.values())
    print(f"{args.items} items of bitly.get_link_click_metrics, concurrency {args.concurrency}")
    print(f"run: {run.status}, {run.summary}, {run.seconds:.1f} s, {run.rate:.0f} items/s")
    print(f"RSS before the run {before:.0f} MiB; peak RSS of this process {peak:.0f} MiB")
    print(f"run log: {size:.1f} MiB after close ({size_open:.1f} MiB with the WAL at run end)")
    print(f"run-log writes: {writes:.2f} s in total ({writes / run.seconds:.0%} of the run)")
    for name in sorted(log.seconds):
        calls, seconds = log.calls[name], log.seconds[name]
        print(
            f"  {name:<10} {calls:>6} calls {seconds:7.2f} s  {1000 * seconds / calls:.3f} ms each"
        )
    ok = peak < LIMIT_MB and run.status == "succeeded"
    print(f"target: peak RSS < {LIMIT_MB:.0f} MiB: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
