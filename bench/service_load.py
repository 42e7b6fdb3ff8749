"""Load on the builder service: 50 concurrent API clients starting runs and reading run pages
for 30 s against `connector serve --sandbox` (its own process: uvicorn on loopback).

Each client, in a loop: start the weekly report (`POST /v1/runs`, inline workflow), read that
run's page (`GET /v1/runs/{id}`) until it has ended or five reads were made, and read the
newest page of runs (`GET /v1/runs?limit=20`). Every answer must be a 2xx: one error and the
benchmark exits 1. Baseline, in the same run: the same loop with one client for 5 s. Prints
p50 / p95 / p99 latency per endpoint, requests per second, and the loaded/unloaded ratio.

    .venv/bin/python bench/service_load.py [--clients 50] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

ROOT = Path(__file__).resolve().parents[1]
TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_service(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("CONNECTOR_API_KEYS", "CONNECTOR_RUNLOG")
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--sandbox", "--port", str(port),
         "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    found = re.search(r"API key for this session: (\S+)", "".join(lines))
    if not found:
        raise SystemExit(f"connector serve did not start: {lines}")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base + "/health")
            return process, base, found.group(1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("connector serve did not answer in 30 s") from None
            time.sleep(0.1)


class Tally:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.finished_runs = 0

    async def call(self, client: httpx.AsyncClient, label: str, method: str, url: str,
                   **kwargs: Any) -> httpx.Response | None:  # fmt: skip
        t0 = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.errors.append(f"{label}: {type(exc).__name__}: {exc}")
            return None
        self.latencies[label].append(time.perf_counter() - t0)
        if not response.is_success:
            self.errors.append(f"{label}: {response.status_code} {response.text[:200]}")
            return None
        return response


async def one_client(base: str, key: str, workflow: dict[str, Any], until: float,
                     tally: Tally) -> None:  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        while time.perf_counter() < until:
            started = await tally.call(
                client, "POST /v1/runs", "POST", "/v1/runs",
                json={"workflow": workflow, "trigger": TRIGGER},
            )  # fmt: skip
            if started is None:
                continue
            run_id = started.json()["run_id"]
            for _ in range(5):
                page = await tally.call(client, "GET /v1/runs/{id}", "GET", f"/v1/runs/{run_id}")
                if page is not None and page.json()["status"] != "running":
                    tally.finished_runs += 1
                    break
                await asyncio.sleep(0.05)
            await tally.call(client, "GET /v1/runs", "GET", "/v1/runs", params={"limit": 20})


async def load(base: str, key: str, clients: int, seconds: float) -> tuple[Tally, float]:
    workflow = yaml.safe_load((ROOT / "examples/weekly_campaign_report.yaml").read_text())
    tally = Tally()
    t0 = time.perf_counter()
    until = t0 + seconds
    await asyncio.gather(*(one_client(base, key, workflow, until, tally) for _ in range(clients)))
    return tally, time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(name: str, tally: Tally, wall: float) -> dict[str, float]:
    total = sum(len(v) for v in tally.latencies.values())
    runs, errors = tally.finished_runs, len(tally.errors)
    print(f"\n{name}: {total:,} requests in {wall:.1f} s ({total / wall:,.0f}/s), "
          f"{runs:,} runs read to their end, {errors} errors")  # fmt: skip
    heads = ("requests", "p50 ms", "p95 ms", "p99 ms", "max ms")
    print(f"  {'endpoint':<20}" + "".join(f" {h:>9}" for h in heads))
    p99 = {}
    for label, values in sorted(tally.latencies.items()):
        p99[label] = percentile(values, 0.99) * 1000
        figures = [percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99)] + [max(values) * 1000]
        print(f"  {label:<20} {len(values):>9,}" + "".join(f" {f:>9.1f}" for f in figures))
    for error in tally.errors[:10]:
        print("  error:", error)
    return p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    args = parser.parse_args()
    print("machine:", machine())
    with tempfile.TemporaryDirectory() as home:
        process, base, key = start_service(Path(home))
        try:
            base_tally, base_wall = asyncio.run(load(base, key, 1, args.baseline_seconds))
            base_p99 = report("baseline, 1 client", base_tally, base_wall)
            tally, wall = asyncio.run(load(base, key, args.clients, args.seconds))
            p99 = report(f"load, {args.clients} clients", tally, wall)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    print("\np99 loaded / unloaded:")
    for label, value in sorted(p99.items()):
        if label in base_p99:
            print(f"  {label:<20} {value / base_p99[label]:.1f}x")
    errors = len(tally.errors) + len(base_tally.errors)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
