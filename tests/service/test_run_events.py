"""A run's server-sent events, read with an httpx stream from the service under a real
uvicorn on loopback; cancel stops a run between items without orphaning a write."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector.sandbox.controls import Faults
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.sandbox.server import BackgroundServer
from connector.service import ServiceConfig, create_app

from .helpers import AUTH, faults_on, weekly_report

TRIGGER = {"group_guid": "Bdemo000001", "campaign_guid": "Cdemo000001", "days": 7}


@pytest.fixture
def live(config: ServiceConfig) -> Iterator[str]:
    config.events_poll = 0.02
    with BackgroundServer(create_app(config)) as server:
        yield server.url


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind is not None:
            yield kind, json.loads(line[6:])


def _slow_loop() -> dict[str, Any]:
    doc = weekly_report()
    doc["steps"][1]["loop"]["batch_size"] = 1  # one item at a time: a cancel lands between
    return doc


def test_events_stream_a_run_to_its_end(live: str, boxes: EmbeddedSandboxes) -> None:
    faults_on(boxes, "bitly", Faults(latency_ms=30))
    with httpx.Client(base_url=live, headers=AUTH, timeout=30) as client:
        run_id = client.post(
            "/v1/runs", json={"workflow": _slow_loop(), "trigger": TRIGGER}
        ).json()["run_id"]
        seen: list[tuple[str, dict[str, Any]]] = []
        with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for kind, data in _events(response):
                seen.append((kind, data))
        run = client.get(f"/v1/runs/{run_id}").json()
    kinds = [k for k, _ in seen]
    assert kinds[0] == "status" and seen[0][1] == {"run_id": run_id, "status": "running"}
    assert kinds[-1] == "end" and seen[-1][1]["status"] == "succeeded" == run["status"]
    loop = next(s for s in run["steps"] if s["step_id"] == "metrics")
    items = [d for k, d in seen if k == "item"]
    assert sorted(d["index"] for d in items) == list(range(loop["summary"]["total"]))
    assert all(d["status"] == "succeeded" and d["step_id"] == "metrics" for d in items)
    steps = [d for k, d in seen if k == "step" and d["step_id"] == "metrics"]
    # seen while running (items arriving one by one), then finished
    assert steps[0]["status"] == "running" and steps[-1]["status"] == "succeeded"
    first_item, last_step = kinds.index("item"), len(kinds) - 1 - kinds[::-1].index("step")
    assert first_item < last_step, "items streamed as they finished, before the loop ended"
    missing = httpx.get(f"{live}/v1/runs/nope/events", headers=AUTH)
    assert missing.status_code == 404


def test_cancel_stops_between_items_and_the_run_is_retryable(
    live: str, boxes: EmbeddedSandboxes
) -> None:
    faults_on(boxes, "bitly", Faults(latency_ms=40))
    with httpx.Client(base_url=live, headers=AUTH, timeout=30) as client:
        run_id = client.post(
            "/v1/runs", json={"workflow": _slow_loop(), "trigger": TRIGGER}
        ).json()["run_id"]
        ended: dict[str, Any] = {}
        with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
            for kind, data in _events(response):
                if kind == "item" and not ended:
                    answer = client.post(f"/v1/runs/{run_id}/cancel")
                    assert answer.status_code == 202, answer.text
                    assert answer.json() == {"run_id": run_id, "status": "cancelling"}
                    ended["cancel"] = True
                if kind == "end":
                    ended = data
        assert ended["status"] == "cancelled"
        deadline = time.monotonic() + 20
        while (run := client.get(f"/v1/runs/{run_id}").json())["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert run["status"] == "cancelled" and run["failed_step"] == "metrics", run
        loop = next(s for s in run["steps"] if s["step_id"] == "metrics")
        assert loop["status"] == "cancelled"
        counts = loop["items"]["counts"]
        assert set(counts) <= {"succeeded", "skipped"} and counts.get("skipped", 0) > 0, counts
        assert counts["succeeded"] == loop["summary"]["succeeded"] >= 1
        # every request sent was recorded: none in flight was lost
        sent = boxes.apps["bitly"].state.counts["GET /v4/bitlinks/{bitlink}/clicks"]
        assert sent == counts["succeeded"]
        again = client.post(f"/v1/runs/{run_id}/cancel")
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]
        child = client.post(f"/v1/runs/{run_id}/retry")
        assert child.status_code == 202
        child_id = child.json()["run_id"]
        deadline = time.monotonic() + 20
        while (done := client.get(f"/v1/runs/{child_id}").json())["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert done["status"] == "succeeded", done
        total = loop["summary"]["total"]
        assert boxes.apps["bitly"].state.counts["GET /v4/bitlinks/{bitlink}/clicks"] == total
