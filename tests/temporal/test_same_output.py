"""The same workflow gives the same result on the embedded engine and on Temporal workers,
over one PostgreSQL run log and the same sandboxes: output, status, failed step, error,
exit code; and `runs retry --temporal` retries like the embedded retry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.engine.runlog import RunLog
from connector.sandbox.embedded import embedded_sandboxes

from .temporal_box import ROOT, Worker, base_env, connector

pytestmark = pytest.mark.slow

REPORT = ROOT / "examples" / "weekly_campaign_report.yaml"


@pytest.fixture(scope="module")
def setup(
    temporal_address: str, pg_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], str]]:
    """A run log in PostgreSQL, the sandboxes, and one `connector worker`."""
    folder = tmp_path_factory.mktemp("same")
    with embedded_sandboxes() as boxes:
        env = base_env(
            CONNECTOR_RUNLOG=pg_server.database_url(),
            CONNECTOR_HOME=str(folder / "home"),
            BITLY_API_URL=boxes.base_urls["bitly"],
            BITLY_TOKEN=boxes.credentials["bitly"],
            SHORTEN_API_URL=boxes.base_urls["shorten_dev"],
            SHORTEN_API_KEY=boxes.credentials["shorten_dev"],
        )
        worker = Worker(temporal_address, "same-output", env, folder / "worker.log")
        try:
            worker.wait_ready()
            yield env, temporal_address
        finally:
            worker.stop()


def _both(workflow: Path, env: dict[str, str], address: str) -> tuple[Any, Any]:
    embedded = connector("run", str(workflow), "--json", env=env)
    on_temporal = connector(
        "run", str(workflow), "--json", "--temporal", address, "--task-queue", "same-output",
        env=env,
    )  # fmt: skip
    assert on_temporal.stderr.count("\n") <= 1, on_temporal.stderr  # no traceback, no noise
    assert embedded.returncode == on_temporal.returncode, (embedded.stderr, on_temporal.stderr)
    return (embedded.returncode, json.loads(embedded.stdout)), (
        on_temporal.returncode,
        json.loads(on_temporal.stdout),
    )


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("status", "output", "error", "failed_step"):
        assert a[key] == b[key], key
    assert a["run_id"] != b["run_id"]


def test_the_weekly_report_is_the_same_on_temporal(setup: tuple[dict[str, str], str]) -> None:
    env, address = setup
    (code, embedded), (_, on_temporal) = _both(REPORT, env, address)
    assert code == 0 and embedded["status"] == "succeeded"
    assert embedded["output"]["links"] > 0
    _same(embedded, on_temporal)
    # Both runs, step by step, in the one shared run log.
    with RunLog(env["CONNECTOR_RUNLOG"], readonly=True) as log:
        for run in (embedded, on_temporal):
            steps = log.steps(run["run_id"])
            assert [(s.step_id, s.status) for s in steps] == [
                ("links", "succeeded"), ("metrics", "succeeded"), ("report", "succeeded"),
            ]  # fmt: skip
        a, b = (log.steps(r["run_id"])[1] for r in (embedded, on_temporal))
        assert a.summary == b.summary
        # Item by item, but for the moment each was asked at ("unit_reference": now).
        for x, y in zip(a.output["items"], b.output["items"], strict=True):
            assert x.pop("unit_reference") <= y.pop("unit_reference")
            assert x == y


def _failing_loop(path: Path) -> Path:
    """A loop whose items 1 and 3 name links that do not exist (404: fatal, not retried),
    one item at a time: the embedded loop reports the first to fail in time."""
    doc = {
        "name": "some links missing",
        "trigger": {
            "sample": {
                "links": ["bit.ly/spring-sale", "bit.ly/nope-1", "bit.ly/EZ6mcli", "bit.ly/nope-2"]
            }
        },
        "steps": [
            {
                "id": "each",
                "loop": {"over": "<<trigger.links>>", "batch_size": 1, "on_item_error": "continue"},
                "action": "bitly.get_bitlink",
                "inputs": {"bitlink": "<<item>>"},
            }
        ],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_failed_loop_fails_the_same_and_retries_the_same(
    setup: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, address = setup
    workflow = _failing_loop(tmp_path / "missing.yaml")
    (code, embedded), (_, on_temporal) = _both(workflow, env, address)
    assert code == 1 and embedded["failed_step"] == "each"
    _same(embedded, on_temporal)
    assert "2 of 4 items failed" in on_temporal["error"]["loop"]

    retries = []
    for run, extra in ((embedded, []), (on_temporal, ["--temporal", address])):
        done = connector(
            "runs", "retry", run["run_id"], "--json", *extra, "--task-queue", "same-output",
            env=env,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        retries.append(json.loads(done.stdout))
    _same(*retries)
    with RunLog(env["CONNECTOR_RUNLOG"], readonly=True) as log:
        for retry, parent in zip(retries, (embedded, on_temporal), strict=True):
            assert log.get_run(retry["run_id"]).parent_run_id == parent["run_id"]
            items = list(log.items(retry["run_id"], "each"))
            reused = [i.index for i in items if i.reused_from == parent["run_id"]]
            assert reused == [0, 2]  # only the failed items ran again

    # A run is retried once, on Temporal too: the second retry names the child, exit 1.
    again = connector(
        "runs", "retry", on_temporal["run_id"], "--temporal", address,
        "--task-queue", "same-output", env=env,
    )  # fmt: skip
    assert again.returncode == 1
    assert f"already retried as run {retries[1]['run_id']}" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_loop_that_stops_at_its_first_failure_stops_the_same(
    setup: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, address = setup
    doc = {
        "name": "stop at the first missing link",
        "trigger": {"sample": {"links": ["bit.ly/nope-0"] + ["bit.ly/spring-sale"] * 5}},
        "steps": [
            {
                "id": "each",
                "loop": {"over": "<<trigger.links>>", "batch_size": 1, "on_item_error": "stop"},
                "action": "bitly.get_bitlink",
                "inputs": {"bitlink": "<<item>>"},
            }
        ],
    }
    workflow = tmp_path / "stop.yaml"
    workflow.write_text(yaml.safe_dump(doc))
    embedded = connector("run", str(workflow), "--json", env=env)
    on_temporal = connector(
        "run", str(workflow), "--json", "--temporal", address, "--task-queue", "same-output",
        "--items-per-activity", "2", "--activities-in-flight", "1", env=env,
    )  # fmt: skip
    assert embedded.returncode == on_temporal.returncode == 1
    a, b = json.loads(embedded.stdout), json.loads(on_temporal.stdout)
    _same(a, b)
    assert "1 of 6 items failed, 5 skipped" in b["error"]["loop"]
    with RunLog(env["CONNECTOR_RUNLOG"], readonly=True) as log:
        statuses = [[i.status for i in log.items(r["run_id"], "each")] for r in (a, b)]
    assert statuses[0] == statuses[1] == ["failed"] + ["skipped"] * 5
