"""Acceptance (issue 12, point 4) on Temporal: three `connector worker` processes on one
Bitly token, each sending from its own loopback address, run one loop against a sandbox
limited per minute: no window is ever exceeded (the sandbox's counts per window), at least
95% of the allowed rate is used, no item fails, and the run log agrees with the sandbox.

The workers share a PostgreSQL run log, so their rate budget is shared through it with no
other setting. The sandbox caps connections at 5 per client address, as Bitly does per
client IP, and answers after 30 ms, so that a worker running several ranges of the loop
at once (each range 5 items at a time) would go past 5 unless the cap is held per worker
process across all of its activities. Real time: two minutes' allowance, so the run lasts
until the second minute window opens (at most about a minute and a half).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Faults, Limits
from connector.sandbox.server import BackgroundServer

from ..engine.pacing_sim import shorten_loop
from ..engine.shared_sim import check_the_minutes
from ..engine.shorten_box import read
from .temporal_box import ROOT, Worker, base_env

pytestmark = pytest.mark.slow

PER_MINUTE = 120
PER_CLIENT = 5
ITEMS = 2 * PER_MINUTE
WORKERS = 3
#: ranges of 20 items: 12 ranges, 8 at a time, so that every worker runs several at once
ITEMS_PER_ACTIVITY = 20
QUEUE = "shared-budget"


class PerAddress:
    """ASGI wrapper in front of the sandbox: requests and most at once, per client address
    (what the sandbox's per-client cap refuses, counted here however it ends)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self._now: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        if client is None:
            await self.app(scope, receive, send)
            return
        address = str(client[0])
        with self._lock:
            self.requests[address] += 1
            self._now[address] += 1
            self.most[address] = max(self.most[address], self._now[address])
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._now[address] -= 1


@pytest.fixture
def sandbox() -> Iterator[tuple[BackgroundServer, Any, PerAddress, Any]]:
    limits = Limits(
        per_minute=PER_MINUTE, per_hour=10 * PER_MINUTE, concurrency_per_client=PER_CLIENT
    )
    app = bitly.create_app(
        SandboxConfig(controls=Controls(limits=limits, faults=Faults(latency_ms=30)))
    )
    counted = PerAddress(app)
    with BackgroundServer(counted) as server:
        yield server, app.state.controls, counted, app.state.store


def test_three_temporal_workers_on_one_token_share_the_minute(
    temporal_address: str,
    sandbox: tuple[BackgroundServer, Any, PerAddress, Any],
    pg_server: Any,
    tmp_path: Path,
) -> None:
    server, controls, per_address, store = sandbox
    workflow = tmp_path / "shorten.yaml"
    workflow.write_text(yaml.safe_dump(shorten_loop()))  # 5 at a time over trigger.items
    trigger = tmp_path / "trigger.json"
    urls = [f"https://example.com/t/{i:03d}" for i in range(ITEMS)]
    trigger.write_text(json.dumps({"items": urls}))
    database = pg_server.database_url()
    env = base_env(
        BITLY_API_URL=server.url + "/v4", BITLY_TOKEN=DEMO_BITLY_TOKEN, CONNECTOR_RUNLOG=database
    )
    addresses = [f"127.0.0.{2 + n}" for n in range(WORKERS)]
    logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
    workers = [
        Worker(temporal_address, QUEUE, {**env, "CONNECTOR_SOURCE_ADDRESS": address}, log)
        for address, log in zip(addresses, logs, strict=True)
    ]

    def worker_logs() -> str:
        return "\n".join(f"{log.name}: {log.read_text()[-1500:]}" for log in logs)

    try:
        for worker in workers:
            worker.wait_ready()
        try:
            run = subprocess.run(
                [sys.executable, "-m", "connector", "run", str(workflow), "--trigger",
                 f"@{trigger}", "--json", "--temporal", temporal_address, "--task-queue",
                 QUEUE, "--items-per-activity", str(ITEMS_PER_ACTIVITY)],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the run did not end within 180 s; sandbox: {controls.window_counts()} "
                f"{dict(controls.throttles)}\n{worker_logs()}"
            )
    finally:
        for worker in workers:
            worker.stop()
    assert run.returncode == 0, f"{run.stderr[-2000:]}\n{worker_logs()}"
    result = json.loads(run.stdout)
    summary = result["output"]["summary"]
    assert summary == {"total": ITEMS, "succeeded": ITEMS, "failed": 0, "skipped": 0}

    minutes = [
        w["admitted"]
        for w in controls.window_counts()
        if w["endpoint"] == "POST /v4/shorten" and w["window"] == "minute"
    ]
    print(  # the figures, for bench/README.md and the report (pytest -s)
        f"\nshorten per minute window: {minutes} of {PER_MINUTE} "
        f"({', '.join(f'{100 * n / PER_MINUTE:.1f}%' for n in minutes)}); "
        f"requests per address: {dict(per_address.requests)}; "
        f"most at once per address: {dict(per_address.most)}"
    )
    # The sandbox's counts: no window exceeded, nothing throttled for any reason (the
    # per-address cap included), every full window at least 95% used, each item sent once.
    check_the_minutes(controls, ITEMS, PER_MINUTE)
    # Three workers shared the work, each within its address's 5 connections.
    assert set(per_address.requests) == set(addresses), per_address.requests
    assert all(n <= PER_CLIENT for n in per_address.most.values()), per_address.most
    assert max(per_address.most.values()) == PER_CLIENT  # the cap was pressed, and held

    # The workers paced by the budget shared in the run log's database (no other setting).
    shared = {row[0] for row in read(database, "SELECT window_id FROM shared_budget_windows")}
    assert "POST /v4/shorten/minute" in shared, shared

    # The run log agrees with the sandbox: one link per URL in the sandbox's store, and
    # each item's row holds that very link.
    with store.lock:
        rows = store.conn.execute("SELECT key, long_url FROM links WHERE deleted = 0")
        link_of = {row["long_url"]: row["key"] for row in rows.fetchall()}
    assert sorted(link_of) == urls
    items = read(
        database,
        "SELECT idx, status, output_json FROM loop_items WHERE run_id=? ORDER BY idx",
        (result["run_id"],),
    )
    assert [row[0] for row in items] == list(range(ITEMS))
    for idx, status, output in items:
        assert status == "succeeded", (idx, status)
        assert json.loads(output)["id"] == link_of[urls[idx]], idx
