"""`kill -9` of a real `connector serve` process, during a run and while it polls.

The Bitly sandbox runs in the test process (on loopback) and the service reaches it through
BITLY_API_URL and BITLY_TOKEN, as it would reach Bitly: links created while the service is
down must still be there when it is back, which a sandbox inside the killed process (`serve
--sandbox`) would lose with it. Restarted on the same --home, the service shows the killed
run as interrupted (and retries it with one click), and the polling trigger resumes: every
link created across the kills starts exactly one run. A Bitly delivery sent five times at
once to the real server starts one run too.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.sandbox.controls import Controls
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes

from .sandbox_links import create_links as _create_links

KEY = "restart-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
GROUP = "Bdemo000001"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """`connector serve` on a port of its own, started and killed by the test."""

    def __init__(self, home: Path, boxes: EmbeddedSandboxes) -> None:
        self.home = home
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_API_KEYS"}
        self.env |= {
            "BITLY_API_URL": boxes.base_urls["bitly"],
            "BITLY_TOKEN": boxes.credentials["bitly"],
        }
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0
        self.log = home.parent / "serve.log"

    def start(self) -> None:
        command = [sys.executable, "-m", "connector", "serve", "--port", str(self.port),
                   "--home", str(self.home), "--api-key", KEY]  # fmt: skip
        self.starts += 1
        # A file, not a pipe: a server logging every request would fill a pipe and block.
        self.log = self.home.parent / f"serve-{self.starts}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=subprocess.DEVNULL, stderr=log, text=True
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.base + "/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the service did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> str:
        if self.process is None:
            return ""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)
        self.process = None
        return "\n".join(p.read_text() for p in sorted(self.home.parent.glob("serve-*.log")))

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return httpx.post(self.base + path, json=body, headers=AUTH, timeout=30)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=AUTH, timeout=30)


@pytest.fixture
def boxes() -> Iterator[EmbeddedSandboxes]:
    with embedded_sandboxes(controls=Controls()) as started:
        yield started


@pytest.fixture
def service(tmp_path: Path, boxes: EmbeddedSandboxes) -> Iterator[Service]:
    running = Service(tmp_path / "home", boxes)
    running.start()
    try:
        yield running
    finally:
        err = running.stop()
        assert "Traceback" not in err, err


def _until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _run_triggers(home: Path) -> list[str]:
    """The trigger payload id of every run in the log, in order."""
    with sqlite3.connect(home / "runs.db") as db:
        rows = db.execute(
            "SELECT json_extract(trigger_json, '$.id') FROM runs ORDER BY started_at, rowid"
        ).fetchall()
    return [r[0] for r in rows]


def _first_poll_done(home: Path) -> bool:
    with sqlite3.connect(home / "runs.db") as db:
        row = db.execute("SELECT state_json FROM triggers").fetchone()
    return row is not None and row[0] is not None


@pytest.mark.slow
def test_kill_9_during_a_run_leaves_it_interrupted_and_retryable(
    service: Service, boxes: EmbeddedSandboxes
) -> None:
    links = ["bit.ly/spring-sale", "bit.ly/docs-start"] * 8
    workflow = {
        "name": "Slow lookups",
        "trigger": {"sample": {"links": links}},
        "limits": {"bitly": {"per_second": 4}},  # 16 lookups: about four seconds
        "steps": [
            {"id": "lookups", "loop": {"over": "{{ trigger.links }}", "batch_size": 1},
             "action": "bitly.get_bitlink", "inputs": {"bitlink": "{{ item }}"}}
        ],
    }  # fmt: skip
    started = service.post("/v1/runs", {"workflow": workflow})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]

    def some_items_done() -> bool:
        view = service.get(f"/v1/runs/{run_id}").json()
        done = sum(
            (s.get("items") or {}).get("counts", {}).get("succeeded", 0) for s in view["steps"]
        )
        return view["status"] == "running" and done >= 3

    _until("the run to be half-way", some_items_done, timeout=30)
    service.kill9()
    service.start()
    view = service.get(f"/v1/runs/{run_id}").json()
    assert view["status"] == "interrupted", view["status"]
    retried = service.post(f"/v1/runs/{run_id}/retry")
    assert retried.status_code == 202, retried.text
    child = retried.json()["run_id"]
    done = _until(
        "the retry to finish",
        lambda: (v := service.get(f"/v1/runs/{child}").json())["status"] != "running" and v,
    )
    assert done["status"] == "succeeded", done
    assert service.post(f"/v1/runs/{run_id}/retry").status_code == 409  # one click, one child


@pytest.mark.slow
def test_kill_9_while_polling_neither_repeats_nor_misses_a_link(
    service: Service, boxes: EmbeddedSandboxes
) -> None:
    workflow = {
        "name": "Each new link",
        "trigger": {"poll": {"action": "bitly.new_bitlink", "inputs": {"group_guid": GROUP},
                             "interval": 1}},
        "steps": [{"id": "link", "action": "bitly.get_bitlink",
                   "inputs": {"bitlink": "{{ trigger.id }}"}}],
    }  # fmt: skip
    saved = service.post("/v1/workflows", {"workflow": workflow})
    assert saved.status_code == 201, saved.text
    workflow_id = saved.json()["workflow_id"]
    assert service.post(f"/v1/workflows/{workflow_id}/enable").status_code == 200
    _until("the first poll", lambda: _first_poll_done(service.home))
    created: list[str] = []
    rng = random.Random(7)
    for round_ in range(4):
        created += _create_links(boxes, 4, f"round{round_}")
        time.sleep(rng.uniform(0.2, 1.6))  # killed before, during or after a poll
        service.kill9()
        created += _create_links(boxes, 2, f"down{round_}")  # while nothing polls
        service.start()
    created += _create_links(boxes, 3, "last")
    _until("a run per link", lambda: len(_run_triggers(service.home)) >= len(created))
    time.sleep(2.5)  # two more polls: nothing else may start
    assert sorted(_run_triggers(service.home)) == sorted(created)
    view = service.get(f"/v1/workflows/{workflow_id}/trigger").json()
    assert view["events"]["events"] == view["events"]["started"] == len(created)


@pytest.mark.slow
def test_a_bitly_delivery_posted_five_times_at_once_to_the_server_starts_one_run(
    service: Service, boxes: EmbeddedSandboxes
) -> None:
    workflow = {
        "name": "Each click",
        "trigger": {"webhook": {"action": "bitly.link_clicked",
                                "inputs": {"organization_guid": "Odemo000001"}}},
        "steps": [{"id": "link", "action": "bitly.get_bitlink",
                   "inputs": {"bitlink": "{{ trigger.bitlink }}"}}],
    }  # fmt: skip
    workflow_id = service.post("/v1/workflows", {"workflow": workflow}).json()["workflow_id"]
    enabled = service.post(f"/v1/workflows/{workflow_id}/enable").json()
    path = "/v1/hooks/" + enabled["hook_url"].rsplit("/", 1)[1]
    payload = {"event_id": "evt-5x", "datetime": "2026-04-15T12:00:00+0000",
               "bitlink": "bit.ly/spring-sale", "country": "FR"}  # fmt: skip
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: httpx.post(service.base + path, json=payload), range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 202]
    with sqlite3.connect(service.home / "runs.db") as db:
        (runs,) = db.execute("SELECT count(*) FROM runs").fetchone()
    assert runs == 1


@pytest.mark.slow
def test_a_real_service_down_for_three_minutes_runs_a_minutely_schedule_once(
    service: Service,
) -> None:
    """Acceptance 4 on a real process: the stored times are set back as if the service had
    fired at 00:00 and been down since (three minutes missed); restarted, it runs once."""
    if 60 - time.time() % 60 < 8:  # not across a minute boundary: that would be a 2nd run
        time.sleep(60 - time.time() % 60 + 0.5)
    workflow = {
        "name": "Every minute",
        "trigger": {"sample": {"id": "bit.ly/spring-sale"}, "schedule": {"cron": "* * * * *"}},
        "steps": [{"id": "link", "action": "bitly.get_bitlink",
                   "inputs": {"bitlink": "{{ trigger.id }}"}}],
    }  # fmt: skip
    workflow_id = service.post("/v1/workflows", {"workflow": workflow}).json()["workflow_id"]
    assert service.post(f"/v1/workflows/{workflow_id}/enable").status_code == 200
    service.kill9()
    minute = time.time() // 60 * 60
    with sqlite3.connect(service.home / "runs.db") as db:
        db.execute(
            "UPDATE triggers SET last_fired_at=?, due_at=?",
            (minute - 240, minute - 180),  # fired 4 minutes ago; 3 times missed since
        )
    service.start()
    _until("the missed schedule's run", lambda: len(_run_triggers(service.home)) >= 1)
    time.sleep(2.5)  # more ticks: the missed minutes do not run again
    with sqlite3.connect(service.home / "runs.db") as db:
        rows = db.execute("SELECT json_extract(trigger_json, '$.scheduled_at') FROM runs")
        fired = sorted(r[0] for r in rows)
    iso = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute + d)) for d in (-180, 0)]
    # One run, for the latest time missed when the service came back (this minute, or the
    # next one on a machine slow enough to restart across a minute's boundary); none for
    # the minutes missed before it; any later run is a new minute's, once.
    assert iso[1] <= fired[0] and all(f > iso[0] for f in fired), fired
    assert len(set(fired)) == len(fired) and len(fired) <= 2, fired
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute - 60)) not in fired
