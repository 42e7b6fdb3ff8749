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

from connector.engine.runlog import RunLog
from connector.errors import RunLogError
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
        controls = self.controls = Controls(faults=faults or Faults(), admin=True)
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
        headers = {"X-Sandbox-Admin-Token": self.controls.admin_token or ""}
        httpx.put(
            self.server.url + "/_sandbox/controls", json=body, headers=headers
        ).raise_for_status()

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


def _items(db: Path | str, run_id: str) -> dict[str, str]:
    """item -> status of a run's loop items, read like any other reader of the run log."""
    with RunLog(db, readonly=True) as log:
        rows = log.store.execute(
            "SELECT item_json, status FROM loop_items WHERE run_id=? AND step_id='each'",
            (run_id,),
        ).fetchall()
    return {json.loads(item): status for item, status in rows}


def _only_run(db: Path | str) -> str:
    with RunLog(db, readonly=True) as log:
        rows = log.store.execute("SELECT id FROM runs").fetchall()
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
                    except (sqlite3.OperationalError, RunLogError, AssertionError):
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


def test_failed_loop_show_and_retry_of_only_the_failed_items(
    tmp_path: Path, runlog_target: Path | str
) -> None:
    home = tmp_path / "home"
    on_file = isinstance(runlog_target, Path)
    db = home / "runs.db" if on_file else runlog_target
    # The file in --home; the PostgreSQL log by --runlog, and by CONNECTOR_RUNLOG for `show`.
    where = ["--home", str(home)] if on_file else ["--runlog", str(runlog_target)]
    two_tries = {**FAST_RETRY, "max_attempts": 2}
    with Sandbox() as box:
        links = box.make_links(20, "accept")
        # Half of all requests fail with 500/502/503; one item at a time, so the seeded
        # fault sequence fails the same items every time.
        box.set_controls({"faults": {"error_rate": 0.5, "seed": 3}})
        doc = _summary_loop(links, two_tries, batch_size=1)
        # A credential pasted into the trigger must be masked in the run log as well.
        doc["trigger"]["sample"]["note"] = f"token {TOKEN} pasted by mistake"
        wf = tmp_path / "clicks.yaml"
        wf.write_text(yaml.safe_dump(doc))
        env = _env(box)

        first = _cli("run", str(wf), *where, env=env)
        assert first.returncode == 1, first.stderr + first.stdout
        run_id = _only_run(db)
        assert "failed step: each" in first.stdout
        assert f"connector runs retry {run_id}" in first.stdout
        statuses = _items(db, run_id)
        failed = sorted(link for link, s in statuses.items() if s == "failed")
        succeeded = sorted(link for link, s in statuses.items() if s == "succeeded")
        assert failed and succeeded and len(failed) + len(succeeded) == 20
        after_first = box.summary_counts(links)
        assert all(after_first[link] == 2 for link in failed)  # both attempts spent

        show_env = env if on_file else {**env, "CONNECTOR_RUNLOG": str(runlog_target)}
        shown = _cli("runs", "show", run_id, *where[:2] if on_file else [], env=show_env)
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout
        assert f"run {run_id}: failed" in text and "failed step: each" in text
        # The API's own error code and description, and each attempt with its wait.
        codes = {"INTERNAL_ERROR", "BAD_GATEWAY", "TEMPORARILY_UNAVAILABLE"}
        assert any(f"code {c}" in text for c in codes)
        assert any(
            d in text
            for d in (
                "internal error occurred",
                "temporarily unavailable",
                "upstream server is unavailable",
            )
        )
        for link in failed:
            assert f"({link}): failed" in text
        assert text.count("then waited 0.0") >= len(failed)
        assert text.count("attempt 2: request failed HTTP 5") >= len(failed)

        box.set_controls({"faults": {"error_rate": 0}})
        retried = _cli("runs", "retry", run_id, "--json", *where, env=env)
        assert retried.returncode == 0, retried.stderr + retried.stdout
        result = json.loads(retried.stdout)
        after_retry = box.summary_counts(links)
        listed = json.loads(_cli("runs", "list", "--json", *where, env=env).stdout)

    assert result["status"] == "succeeded" and result["output"]["summary"]["succeeded"] == 20
    # Only the failed items were requested again, each exactly once.
    delta = {link: after_retry[link] - after_first[link] for link in links}
    assert delta == {link: (1 if link in failed else 0) for link in links}
    assert [(r["id"], r["parent_run_id"]) for r in listed] == [
        (result["run_id"], run_id),
        (run_id, None),
    ]
    if on_file:  # No credential anywhere in the run log's files (database, WAL, shm).
        files = [p for p in home.iterdir() if p.name.startswith("runs.db")]
        assert db in files
        for path in files:
            assert TOKEN.encode() not in path.read_bytes(), path.name
    else:  # nor in any of the PostgreSQL log's rows
        with RunLog(db, readonly=True) as log:
            for table in ("runs", "steps", "loop_items", "intents", "retries"):
                rows = log.store.execute(f"SELECT * FROM {table}").fetchall()
                assert rows or table in ("intents",), table
                assert TOKEN not in json.dumps(rows, default=str), table
    with RunLog(db, readonly=True) as log:
        assert "REDACTED" in json.dumps(log.get_run(run_id).trigger)


BAD_ALL = """\
name: bad
retry: {max_attempts: 6}
steps:
  - id: first
    action: bitly.shorten_lnk
    inputs: {long_url: "https://example.com"}
  - id: uses_later
    action: bitly.get_bitlink
    inputs: {bitlink: "{{ steps.last.output.id }}"}
  - id: wrong_types
    loop: {over: "{{ trigger.links }}", batch_size: 5}
    action: bitly.get_clicks_summary
    inputs: {bitlink: "{{ item }}", units: "seven", unit: 3}
  - id: last
    action: bitly.get_user
"""


def _row_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("runs", "steps", "loop_items")
        }


def test_bad_workflow_files_exit_2_listing_every_error_and_write_nothing(tmp_path: Path) -> None:
    from connector.engine.runlog import ItemRecord, RunLog

    home = tmp_path / "home"
    db = home / "runs.db"
    with RunLog(db) as log:  # an existing run log with one run in it
        run_id = log.create_run(
            workflow={"name": "old"}, trigger={}, source_path=None, parent_run_id=None,
            started_at=1.0,
        )  # fmt: skip
        log.write_step(run_id, "each", position=0, kind="loop", status="succeeded",
                       definition={})  # fmt: skip
        log.write_item(run_id, ItemRecord("each", 0, "succeeded", 1, {}, {}, None, [], 1, 2, None))
    before = _row_counts(db)
    size = db.stat().st_size

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_ALL)
    out = _cli("run", str(bad), "--home", str(home))
    assert out.returncode == 2, out.stderr + out.stdout
    err = out.stderr
    expected = [
        "max_attempts is 6; at most 5",  # six attempts
        "steps.first.action",  # unknown action, with the nearest id suggested
        "bitly.shorten_link",
        "steps.uses_later.inputs.bitlink",  # a reference to a later step
        "runs later",
        "steps.wrong_types.inputs.units",  # wrong literal types
        "steps.wrong_types.inputs.unit",
    ]
    missing = [e for e in expected if e not in err]
    assert not missing, err
    assert "problems" in err and err.count("\n  - ") >= 5

    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("name: broken\nsteps:\n  - id: a\n    action: [bitly.get_user\n")
    out = _cli("run", str(syntax), "--home", str(home))
    assert out.returncode == 2
    assert "syntax.yaml:" in out.stderr and "syntax error" in out.stderr

    # Neither attempt wrote anything to the run log.
    assert _row_counts(db) == before
    assert db.stat().st_size == size
