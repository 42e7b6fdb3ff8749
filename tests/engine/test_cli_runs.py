"""`connector run` / `connector runs ...` as real subprocesses against a loopback sandbox.

The Bitly sandbox runs in the test process (BackgroundServer) behind a counter of requests
per path, so "this item was (not) requested again" is read from what the server saw. The
CLI reaches it the way a user would: BITLY_API_URL and BITLY_TOKEN in the environment.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.sandbox import bitly
from connector.sandbox.config import DEMO_SEED, SandboxConfig
from connector.sandbox.controls import Controls, Faults
from connector.sandbox.server import BackgroundServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cli-test-Bitly-token-5c1e7a9d"
FAST_RETRY = {"max_attempts": 5, "initial_delay": 0.005, "multiplier": 2, "max_delay": 0.02}


class PathCounter:
    """ASGI wrapper counting requests per (method, path), before anything else sees them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            with self._lock:
                self.counts[f"{scope['method']} {scope['path']}"] += 1
        await self.app(scope, receive, send)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)


class Sandbox:
    """The Bitly sandbox on loopback, accepting only TOKEN, with admin controls."""

    def __init__(self, faults: Faults | None = None) -> None:
        controls = Controls(faults=faults or Faults(), admin=True)
        self.app = bitly.create_app(
            SandboxConfig(seed=DEMO_SEED, tokens={TOKEN: frozenset()}, controls=controls)
        )
        self.counter = PathCounter(self.app)
        self.server = BackgroundServer(self.counter)

    def __enter__(self) -> Sandbox:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def api(self) -> str:
        return self.server.url + "/v4"

    def make_links(self, n: int, tag: str) -> list[str]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        links = []
        with httpx.Client(base_url=self.api, headers=headers) as client:
            for i in range(n):
                answer = client.post("/shorten", json={"long_url": f"https://ex.com/{tag}/{i}"})
                answer.raise_for_status()
                links.append(answer.json()["id"])
        return links

    def set_controls(self, body: dict[str, Any]) -> None:
        httpx.put(self.server.url + "/_sandbox/controls", json=body).raise_for_status()

    def summary_counts(self, links: list[str]) -> dict[str, int]:
        counts = self.counter.snapshot()
        return {link: counts[f"GET /v4/bitlinks/{link}/clicks/summary"] for link in links}


def _env(sandbox: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITLY_", "SHORTEN_"))}
    env.pop("CONNECTOR_HOME", None)
    env.update(BITLY_API_URL=sandbox.api, BITLY_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    return env


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _summary_loop(links: list[str], retry: dict[str, Any], batch_size: int) -> dict[str, Any]:
    return {
        "name": "clicks of each link",
        "retry": retry,
        "trigger": {"sample": {"links": links}},
        "steps": [
            {
                "id": "each",
                "loop": {
                    "over": "{{ trigger.links }}",
                    "batch_size": batch_size,
                    "on_item_error": "continue",
                },
                "action": "bitly.get_clicks_summary",
                "inputs": {"bitlink": "{{ item }}", "unit": "day", "units": 7},
            }
        ],
    }


def _items(db: Path, run_id: str) -> dict[str, str]:
    """item -> status of a run's loop items, read like any other reader of the run log."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT item_json, status FROM loop_items WHERE run_id=? AND step_id='each'",
            (run_id,),
        ).fetchall()
    return {json.loads(item): status for item, status in rows}


def _only_run(db: Path) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT id FROM runs").fetchall()
    assert len(rows) == 1, rows
    return str(rows[0][0])


def test_kill_9_mid_loop_then_retry_never_repeats_a_finished_item(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db = home / "runs.db"
    with Sandbox() as box:
        links = box.make_links(40, "crash")
        # Slow answers (5 at a time, 0.2 s each) leave time to kill the run mid-loop.
        box.set_controls({"faults": {"latency_ms": 200}})
        wf = tmp_path / "clicks.yaml"
        wf.write_text(yaml.safe_dump(_summary_loop(links, FAST_RETRY, batch_size=5)))
        env = _env(box)
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "run", str(wf), "--home", str(home)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            finished: dict[str, str] = {}
            run_id = None
            while time.monotonic() < deadline and proc.poll() is None:
                if db.exists():
                    try:
                        run_id = run_id or _only_run(db)
                        finished = _items(db, run_id)
                    except (sqlite3.OperationalError, AssertionError):
                        pass  # the schema or the run row is being created
                if len(finished) >= 10:
                    break
                time.sleep(0.01)
            assert proc.poll() is None, "the run ended before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        assert run_id is not None
        before = _items(db, run_id)  # what the run log holds after the crash
        assert 10 <= len(before) < 40 and set(before.values()) == {"succeeded"}

        listed = _cli("runs", "list", "--status", "interrupted", "--json", "--home", str(home))
        assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]

        box.set_controls({"faults": {"latency_ms": 0}})
        retried = _cli("runs", "retry", run_id, "--json", "--home", str(home), env=env)
        assert retried.returncode == 0, retried.stderr + retried.stdout
        result = json.loads(retried.stdout)
        counts = box.summary_counts(links)

    assert result["status"] == "succeeded"
    assert result["output"]["summary"] == {"total": 40, "succeeded": 40, "failed": 0, "skipped": 0}
    # Every item finished before the kill was requested exactly once, ever.
    assert {link: counts[link] for link in before} == {link: 1 for link in before}
    # The rest ran in the retry; only the ones in flight at the kill (at most 5) twice.
    assert all(1 <= counts[link] <= 2 for link in links)
    assert sum(1 for link in links if counts[link] == 2) <= 5
    retry_items = _items(db, result["run_id"])
    assert retry_items == {link: "succeeded" for link in links}
    with sqlite3.connect(db) as conn:
        reused = conn.execute(
            "SELECT count(*) FROM loop_items WHERE run_id=? AND reused_from=?",
            (result["run_id"], run_id),
        ).fetchone()[0]
    assert reused == len(before)
