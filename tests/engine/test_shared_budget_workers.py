"""Acceptance (issue 12, point 4): three worker processes on one Bitly token, each sending
from its own loopback address, against a sandbox limited per minute: no window is ever
exceeded (the sandbox's counts per window), at least 95% of the allowed rate is used, and
no item fails.

The workers are three `connector run` processes sharing the token and a PostgreSQL run
log, so their budgets are shared through it with no other setting. The sandbox caps
connections at 5 per client address, as Bitly does per client IP: each worker holds its 5,
from 127.0.0.2, .3 and .4. Real time: each worker has a third of two minutes' allowance, so
the run lasts until the second minute window opens (at most about two minutes).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Limits
from connector.sandbox.server import BackgroundServer

from .pacing_sim import shorten_loop
from .shared_sim import check_the_minutes
from .shorten_box import popen

pytestmark = pytest.mark.slow

PER_MINUTE = 120
WORKERS = 3
ITEMS = 2 * PER_MINUTE // WORKERS  # per worker: two minute windows in all


@pytest.fixture
def sandbox() -> Iterator[tuple[BackgroundServer, Any]]:
    limits = Limits(per_minute=PER_MINUTE, per_hour=10 * PER_MINUTE, concurrency_per_client=5)
    app = bitly.create_app(SandboxConfig(controls=Controls(limits=limits)))
    with BackgroundServer(app) as server:
        yield server, app.state.controls


def _workflow(path: Path) -> Path:
    path.write_text(yaml.safe_dump(shorten_loop()))  # 5 at a time over trigger.items
    return path


def test_three_workers_on_one_token_share_the_minute(
    sandbox: tuple[BackgroundServer, Any], pg_server: Any, tmp_path: Path
) -> None:
    server, controls = sandbox
    database = pg_server.database_url()
    workflow = _workflow(tmp_path / "shorten.yaml")
    procs = []
    for worker in range(WORKERS):
        trigger = tmp_path / f"trigger{worker}.json"
        urls = [f"https://example.com/w{worker}/{i:03d}" for i in range(ITEMS)]
        trigger.write_text(json.dumps({"items": urls}))
        env = {
            **_base_env(),
            "BITLY_API_URL": server.url + "/v4",
            "BITLY_TOKEN": DEMO_BITLY_TOKEN,
            "CONNECTOR_RUNLOG": database,
            "CONNECTOR_HOME": str(tmp_path / f"home{worker}"),
            "CONNECTOR_SOURCE_ADDRESS": f"127.0.0.{2 + worker}",
        }
        procs.append(popen("run", str(workflow), "--trigger", f"@{trigger}", "--json", env=env))
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out))

    # No failed item, in any worker.
    for result in results:
        summary = result["output"]["summary"]
        assert summary == {"total": ITEMS, "succeeded": ITEMS, "failed": 0, "skipped": 0}

    check_the_minutes(controls, WORKERS * ITEMS, PER_MINUTE)


def _base_env() -> dict[str, str]:
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BITLY_", "SHORTEN_", "CONNECTOR_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env
