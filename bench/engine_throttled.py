"""A 400-item loop against a Bitly sandbox that allows 20 requests per second.

The sandbox runs in its own process with `--per-second 20` (fixed one-second windows per
endpoint; over the limit it answers 403 RATE_LIMIT_EXCEEDED with no Retry-After, as Bitly
does). The engine does not know that limit unless it is declared, so two runs:

  paced     the manifest's concurrency (5) plus a per-second budget of 20 declared as a
            user override: the engine spaces requests before the sandbox throttles.
            (The manifest's per-minute/per-hour budgets, 100 and 1,000, describe a real
            Bitly account; at 100 a minute, 400 items cannot take less than ~3.5 minutes, so
            they are not part of this override.)
  reactive  the manifest's concurrency (5) and no rate window at all: the engine learns the
            limit only from throttle answers. Bitly names no wait (the error table's 60 s
            `retry_after_default` is only an upper bound), and with no window there is no
            boundary to wait for, so the shared pause is adaptive: 0.5 s, doubling while the
            window stays closed, reset by a clean answer; on resume one probe goes first.
            The run is given --reactive-deadline seconds; what it got done by then is
            reported if it has not finished.

Throttled answers are counted by the sandbox (admin counts, minus the 400 that succeeded)
and by the engine's budget; the longest wait after a throttle and the most attempts any item
needed are read from the run log. Run:

    .venv/bin/python bench/engine_throttled.py [--items 400] [--reactive-deadline 120]
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

from _common import Sandbox, demo_bitlinks, items_for, machine, run_engine, sandbox

from connector.engine.rate_budget import RateLimitSpec
from connector.engine.runlog import RunLog

TARGET_SECONDS = 24.0
CLICKS = "GET /v4/bitlinks/{bitlink}/clicks"


async def _bounded(box: Sandbox, links: list[str], db: Path, spec: RateLimitSpec,
                   deadline: float) -> tuple[Any, float]:  # fmt: skip
    """The run, or None if it was still going at `deadline` (then cancelled)."""
    t0 = time.perf_counter()
    task = asyncio.ensure_future(
        run_engine(box, links, batch_size=5, runlog=db, overrides={"bitly": spec})
    )
    try:
        return await asyncio.wait_for(task, deadline), time.perf_counter() - t0
    except TimeoutError:
        return None, time.perf_counter() - t0


def one(box: Sandbox, name: str, links: list[str], spec: RateLimitSpec, deadline: float,
        tmp: Path) -> bool:  # fmt: skip
    box.reset_counts()
    db = tmp / f"{name}.db"
    run, seconds = asyncio.run(_bounded(box, links, db, spec, deadline))
    sent = box.counts().get(CLICKS, 0)
    with RunLog(db) as log:
        latest = log.list_runs(limit=1)[0]
        done = log.item_counts(latest.id, "metrics")
        attempts = [i.attempts for i in log.items(latest.id, "metrics")]
    waits = [a.get("wait", 0.0) for tries in attempts for a in tries if a.get("status") == 403]
    most = max((len(tries) for tries in attempts), default=0)
    succeeded = done.get("succeeded", 0)
    failed = done.get("failed", 0)
    throttled = sent - succeeded  # every other answer of the sandbox was a 403 throttle
    status = run.status if run is not None else f"stopped after {deadline:.0f} s"
    print(
        f"{name:<9} {status:<22} {seconds:6.1f} s  {succeeded:>4} succeeded {failed:>3} failed  "
        f"{sent:>4} requests, {throttled:>3} throttled"
        + (f" (engine saw {run.throttles})" if run is not None else "")
        + f"; longest throttle wait {max(waits, default=0.0):.2f} s, at most {most} attempts"
    )
    ok = run is not None and run.status == "succeeded" and failed == 0
    return ok and seconds <= TARGET_SECONDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--per-second", type=int, default=20)
    parser.add_argument("--reactive-deadline", type=float, default=120.0)
    parser.add_argument("--skip-reactive", action="store_true")
    args = parser.parse_args(argv)

    print(machine())
    print(f"{args.items} items, sandbox --per-second {args.per_second}, loop batch_size 5")
    with sandbox("--per-second", str(args.per_second)) as box, tempfile.TemporaryDirectory() as d:
        links = items_for(demo_bitlinks(box), args.items)
        time.sleep(1.0)  # the listing above used this second's window of another endpoint
        paced = RateLimitSpec(concurrency=5, per_second=args.per_second)
        ok = one(box, "paced", links, paced, TARGET_SECONDS * 5, Path(d))
        print(f"target (paced): within {TARGET_SECONDS:.0f} s, no failed item: "
              f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
        if not args.skip_reactive:
            time.sleep(1.0)
            reactive = RateLimitSpec(concurrency=5)
            met = one(box, "reactive", links, reactive, args.reactive_deadline, Path(d))
            print(f"target (reactive): within {TARGET_SECONDS:.0f} s, no failed item: "
                  f"{'PASS' if met else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
