"""The shared rate budget (PostgreSQL) against the in-process one.

1. Cost per reservation: `async with budget.slot()` with windows that never make a
   request wait, for the in-process `RateBudget` and the `SharedRateBudget` over a private
   PostgreSQL (pgserver, loopback), one request at a time and five at once (Bitly's
   concurrency), with the transactions each took.
2. Rate used on one token by 1, 2 and 3 `connector run` processes, each sending from its own
   loopback address, against the Bitly sandbox limited to 20 requests a second per
   endpoint (and 5 connections per client address, the hour out of the way); they pace by
   `CONNECTOR_LIMITS_BITLY=per_second=20` and share a PostgreSQL run log, so their budget
   is shared. Baseline in the same run: three processes with their own budgets
   (`CONNECTOR_BUDGET=process`). Figures from the sandbox's counts per second window.

    .venv/bin/python bench/shared_budget.py    # about 2 minutes
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.shared_budget import SharedBudgetRegistry
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Limits
from connector.sandbox.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
RESERVATIONS = 2000
PER_SECOND = 20
ITEMS = 300  # over 15 s at 20 a second, split between the processes


@contextmanager
def postgres() -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="connector-pg-bench-"))
    server = pgserver.get_server(folder, cleanup_mode="stop")
    count = iter(range(1000))

    def database() -> str:
        name = f"bench_{next(count)}"
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return urlunsplit(urlsplit(server.get_uri())._replace(path=f"/{name}"))

    try:
        yield database
    finally:
        server.cleanup()


# -- 1. cost per reservation ------------------------------------------------------------------

#: no request ever waits: what is measured is the reservation itself (a log of up to 2,000
#: send times per window is read and written, twice a basic Bitly account's hourly 1,000)
SPEC = RateLimitSpec(per_minute=10**6, per_hour=10**7, windows="fixed")


async def _reserve(budget: RateBudget, n: int, at_once: int) -> float:
    async def one() -> None:
        async with budget.slot():
            pass

    start = time.perf_counter()
    for _ in range(n // at_once):
        await asyncio.gather(*(one() for _ in range(at_once)))
    return (time.perf_counter() - start) / n


async def cost(url: str) -> list[tuple[str, float, float | None]]:
    rows: list[tuple[str, float, float | None]] = []
    for at_once in (1, 5):
        local = RateBudget(SPEC)
        await _reserve(local, 200, at_once)  # warm
        seconds = await _reserve(local, RESERVATIONS, at_once)
        rows.append((f"in-process, {at_once} at once", seconds, None))
        registry = SharedBudgetRegistry(url, "bench")
        shared = registry.get("bench", f"token-{at_once}", SPEC)
        async with registry.hold():
            await _reserve(shared, 200, at_once)
            before = registry.store().transactions
            seconds = await _reserve(shared, RESERVATIONS, at_once)
            per = (registry.store().transactions - before) / RESERVATIONS
        rows.append((f"shared (PostgreSQL), {at_once} at once", seconds, per))
    return rows


# -- 2. rate used by 1, 2, 3 processes --------------------------------------------------------


def _env(server: BackgroundServer, database: str, worker: int, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITLY_", "CONNECTOR_"))}
    env.update(
        BITLY_API_URL=server.url + "/v4",
        BITLY_TOKEN=DEMO_BITLY_TOKEN,
        CONNECTOR_RUNLOG=database,
        CONNECTOR_HOME=str(home / f"home{worker}"),
        CONNECTOR_SOURCE_ADDRESS=f"127.0.0.{2 + worker}",
        CONNECTOR_LIMITS_BITLY=f"per_second={PER_SECOND}",
    )
    return env


def rate(database: str, processes: int, tmp: Path, budget: str | None) -> dict[str, Any]:
    # The hour set high: the engine learns the minute (a tenth of it) from platform_limits.
    limits = Limits(per_second=PER_SECOND, per_hour=10**6, concurrency_per_client=5)
    app = bitly.create_app(SandboxConfig(controls=Controls(limits=limits)))
    controls = app.state.controls
    workflow = tmp / "shorten.yaml"
    workflow.write_text(
        yaml.safe_dump(
            {
                "name": "shorten",
                "retry": {"max_attempts": 5, "initial_delay": 0.2, "max_delay": 2.0},
                "steps": [
                    {
                        "id": "each",
                        "loop": {"over": "{{ trigger.urls }}", "batch_size": 5},
                        "action": "bitly.shorten_link",
                        "inputs": {"long_url": "{{ item }}"},
                    }
                ],
            }
        )
    )
    with BackgroundServer(app) as server:
        procs = []
        command = [sys.executable, "-m", "connector", "run", str(workflow), "--json"]
        for worker in range(processes):
            trigger = tmp / f"t{processes}{worker}.json"
            urls = [f"https://example.com/{processes}/{worker}/{i}" for i in range(ITEMS)]
            trigger.write_text(json.dumps({"urls": urls[worker::processes]}))
            env = _env(server, database, worker, tmp)
            if budget:
                env["CONNECTOR_BUDGET"] = budget
            procs.append(
                subprocess.Popen(
                    [*command, "--trigger", f"@{trigger}"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        failed = 0
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            if proc.returncode != 0:
                print(err[-1000:], file=sys.stderr)
            summary = json.loads(out)["output"]["summary"] if out.strip() else {}
            failed += int(summary.get("failed", 0))
        windows = [
            w
            for w in controls.window_counts()
            if w["endpoint"] == "POST /v4/shorten" and w["window"] == "second"
        ]
    admitted = [w["admitted"] for w in windows]
    inner = admitted[1:-1]  # the first and last seconds are partly outside the run
    return {
        "processes": processes,
        "seconds": len(windows),
        "used": statistics.mean(inner) / PER_SECOND if inner else 0.0,
        "over": max((w["admitted"] + w["throttled"] for w in windows), default=0) / PER_SECOND,
        "throttled": sum(controls.throttles.values()),
        "failed": failed,
    }


def main() -> None:
    print(f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with postgres() as database, tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        print("\n| reservation | µs each | ratio to in-process | transactions each |")
        print("|---|---:|---:|---:|")
        rows = asyncio.run(cost(database()))
        base = {1: rows[0][1], 5: rows[2][1]}
        for name, seconds, per in rows:
            at_once = 5 if "5 at once" in name else 1
            shown = "" if per is None else f"{per:.2f}"
            print(f"| {name} | {seconds * 1e6:,.0f} | {seconds / base[at_once]:.1f}x | {shown} |")
        print(
            f"\n| processes on one token ({PER_SECOND}/s) | budget | seconds | rate used "
            "(inner windows) | most asked in a second | throttled | failed items |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|")
        cases = [(1, None), (2, None), (3, None), (3, "process")]
        for processes, budget in cases:
            figures = rate(database(), processes, tmp, budget)
            kind = "own per process" if budget else "shared"
            print(
                f"| {processes} | {kind} | {figures['seconds']} | {figures['used']:.1%} | "
                f"{figures['over']:.2f}x | {figures['throttled']} | {figures['failed']} |"
            )


if __name__ == "__main__":
    main()
