"""The console in Debian's Chromium: sign in with an API key, run the weekly report on the
sandbox with injected faults so its loop fails, open the failed run, click Retry, and see the
child run succeed having re-requested only the failed items (the sandbox's counts say so).

The service runs under uvicorn on a loopback port (as `connector serve --sandbox` does), over
the embedded sandboxes, with a FakeClock so retry waits take no time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connector.sandbox.controls import Faults
from connector.sandbox.embedded import EmbeddedSandboxes

from .conftest import KEY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
METRICS = "GET /v4/bitlinks/{bitlink}/clicks"
TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}


def _faults(boxes: EmbeddedSandboxes, faults: Faults) -> None:
    middleware = boxes.apps["bitly"].state.controls
    middleware.controls.faults = faults
    middleware.reset_faults()


def _weekly_report() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        (ROOT / "examples/weekly_campaign_report.yaml").read_text()
    )
    doc["steps"][1]["retry"] = {"max_attempts": 2, "initial_delay": 1, "jitter": 0}
    return doc


def _finished(api: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"/v1/runs/{run_id}").json()
        if run["status"] != "running":
            return run
        time.sleep(0.1)  # waiting on a real server in another thread, not on the engine
    raise AssertionError(f"run {run_id} still running after 60 s")


def test_sign_in_open_the_failed_run_and_retry_it(
    served: tuple[str, EmbeddedSandboxes], console: Any
) -> None:
    url, boxes = served
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"})
    page = console

    # two links' metrics fail every time, whatever order the loop's requests take
    _faults(boxes, Faults(fail_paths=("/bit.ly/EZ6mcli/", "/bit.ly/OhbxBZd/")))
    started = api.post("/v1/runs", json={"workflow": _weekly_report(), "trigger": TRIGGER})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    run = _finished(api, run_id)
    assert run["status"] == "failed" and run["failed_step"] == "metrics"
    failed = run["steps"][1]["items"]["counts"]["failed"]
    assert failed == 2

    page.goto(url + "/?status=failed")
    page.click(f"a[href='/runs/{run_id}']")
    page.wait_for_url(f"**/runs/{run_id}")
    assert page.locator("#run-status").inner_text() == "failed"
    failed_rows = page.locator("section[data-step-id=metrics] tr.item.status-failed")
    assert failed_rows.count() == failed
    assert "waited" in failed_rows.first.inner_text()

    _faults(boxes, Faults())
    before = boxes.apps["bitly"].state.counts[METRICS]
    page.get_by_role("button", name="Retry").click()
    page.wait_for_selector("#run-status.status-succeeded", timeout=60_000)
    assert run_id in page.locator("body").inner_text()  # "retry of RUN"
    child_id = page.locator("#run-id").inner_text()
    assert child_id != run_id
    assert boxes.apps["bitly"].state.counts[METRICS] - before == failed
    child = api.get(f"/v1/runs/{child_id}").json()
    assert child["parent_run_id"] == run_id and child["status"] == "succeeded"
    reused = child["steps"][1]["items"]["items"]
    assert sum(1 for i in reused if i["reused_from"]) == len(reused) - failed
    api.close()
