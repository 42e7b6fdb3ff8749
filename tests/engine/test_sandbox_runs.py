"""The engine against the real sandboxes: faults, lost writes, quota, CLI, redaction."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.cli import main
from connector.engine.rate_limits import RateLimitSpec
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox.controls import Controls, Faults, Limits
from connector.sandbox.embedded import embedded_sandboxes

pytestmark = pytest.mark.slow

FAST_RETRY = {"max_attempts": 5, "initial_delay": 0.01, "multiplier": 2, "max_delay": 0.05}


def _run(doc: dict[str, Any], trigger: Any, home: Path, boxes: Any, **kw: Any) -> Any:
    catalog = load_catalog()
    workflow = validate_workflow(doc, catalog)

    async def go() -> Any:
        async with engine_session(
            catalog,
            home / "runs.db",
            base_urls=boxes.base_urls,
            credentials=boxes.credentials,
            rng=random.Random(3),
            **kw,
        ) as engine:
            result = await engine.run(workflow, trigger)
            return result, engine.runlog.steps(result.run_id)

    return asyncio.run(go())


def _create_loop(prefix: str, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = {
        "name": "create",
        "retry": FAST_RETRY,
        "steps": [
            {
                "id": "make",
                "loop": {
                    "over": "{{ trigger.slugs }}",
                    "batch_size": 5,
                    "on_item_error": "continue",
                },
                "action": "shorten_dev.create_link",
                "inputs": {
                    "destination_url": "https://example.com/{{ item }}",
                    "custom_slug": "{{ item }}",
                },
            }
        ],
    }
    return doc, {"slugs": [f"{prefix}-{i:03d}" for i in range(n)]}


def test_faults_every_item_succeeds_and_nothing_is_created_twice(tmp_path: Path) -> None:
    # Five items in flight share one seeded fault sequence, so which item draws which fault
    # depends on timing. The rates are low enough that five faults in a row for one item
    # (the only way to fail) is about one run in a thousand; the high-rate, deterministic
    # versions run one item at a time in test_reliability_faults.py.
    controls = Controls(
        faults=Faults(error_rate=0.03, drop_rate=0.03, lost_write_rate=0.05, seed=11)
    )
    doc, trigger = _create_loop("flt", 80)
    with embedded_sandboxes(controls=controls) as boxes:
        result, steps = _run(doc, trigger, tmp_path, boxes)
        counts = boxes.apps["shorten_dev"].state.counts
    assert result.ok, result.error
    loop = steps[0]
    assert loop.summary == {"total": 80, "succeeded": 80, "failed": 0, "skipped": 0}
    slugs = [o["link"]["slug"] for o in result.output["items"]]
    assert slugs == trigger["slugs"]
    # Some requests were really cut or failed, so retries and reconciles really happened.
    assert sum(counts.values()) > 80
    # A second create of a slug would answer 409 and fail the item: none did.


def test_monthly_quota_fails_fast_without_retries(tmp_path: Path) -> None:
    controls = Controls(limits=Limits(monthly_quota=2))
    doc = {
        "name": "quota",
        "retry": FAST_RETRY,
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.links }}", "batch_size": 1},
                "action": "bitly.get_user",
                "inputs": {},
            }
        ],
    }
    # Limits given outright: nothing is read from the API, so the plan is not checked
    # before the loop and the quota runs out in the middle of it.
    given = {"bitly": RateLimitSpec(concurrency=5, per_minute=100)}
    with embedded_sandboxes(controls=controls) as boxes:
        result, steps = _run(doc, {"links": [1, 2, 3, 4]}, tmp_path, boxes, overrides=given)
        requests = sum(boxes.apps["bitly"].state.counts.values())
    assert result.status == "failed"
    assert result.error["kind"] == "quota_exhausted", result.error
    assert "monthly" in result.error["message"].lower() or result.error["code"]
    assert requests == 3  # two served, one refused: no attempt wasted on retries
    assert steps[0].summary == {"total": 4, "succeeded": 2, "failed": 1, "skipped": 1}


def test_a_loop_that_would_exceed_the_month_fails_before_its_first_request(
    tmp_path: Path,
) -> None:
    # The plan allows 9 API calls a month. Reading the limits takes four (platform limits,
    # user, group, plan), so 5 are left: a loop of 8 items fails before sending any.
    controls = Controls(limits=Limits(monthly_quota=9))
    doc = {
        "name": "quota",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.links }}"},
                "action": "bitly.get_user",
                "inputs": {},
            }
        ],
    }
    with embedded_sandboxes(controls=controls) as boxes:
        result, steps = _run(doc, {"links": list(range(8))}, tmp_path, boxes)
        counts = dict(boxes.apps["bitly"].state.counts)
    assert result.status == "failed" and result.failed_step == "each"
    assert result.error["kind"] == "quota_exhausted", result.error
    message = result.error["message"]
    assert "8 items would exceed this month's api_calls limit" in message
    assert "4 of 9 used, 5 left): only 5 of them fit" in message
    assert "nothing was sent" in message
    # Only the four reads; no item ran.
    assert sum(counts.values()) == 4 and "GET /v4/user" in counts
    assert steps[0].summary is None and steps[0].status == "failed"

    # Five fit: the same loop over five items runs.
    with embedded_sandboxes(controls=Controls(limits=Limits(monthly_quota=9))) as boxes:
        result, _ = _run(doc, {"links": list(range(5))}, tmp_path, boxes)
    assert result.ok, result.error


def test_invalid_workflow_exits_2_and_writes_nothing(tmp_path: Path, capsys: Any) -> None:
    wf = tmp_path / "bad.yaml"
    wf.write_text(
        "name: bad\nretry: {max_attempts: 6}\nsteps:\n"
        "  - id: a\n    action: bitly.shorten_lnk\n"
        "  - id: b\n    action: bitly.get_bitlink\n"
        "    inputs: {bitlink: '{{ steps.c.output }}', nope: 1}\n"
        "  - id: c\n    action: bitly.get_user\n"
    )
    assert main(["run", str(wf), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    for needle in (
        "max_attempts",
        "steps.a.action",
        "shorten_link",
        "steps.b.inputs.nope",
        "runs later",
    ):
        assert needle in err
    assert not (tmp_path / "home" / "runs.db").exists()
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("name: x\nsteps: [\n")
    assert main(["run", str(syntax), "--home", str(tmp_path / "home")]) == 2
    assert "syntax.yaml:" in capsys.readouterr().err


def test_main_command_report_and_no_credential_in_run_log(tmp_path: Path, capsys: Any) -> None:
    home = tmp_path / "home"
    root = Path(__file__).resolve().parents[2]
    code = main(
        [
            "run",
            str(root / "examples/weekly_campaign_report.yaml"),
            "--sandbox",
            "--home",
            str(home),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["output"]["total_clicks"] > 0 and out["output"]["top_countries"]
    from connector.sandbox.config import DEMO_BITLY_TOKEN

    data = b"".join(p.read_bytes() for p in home.iterdir())
    assert data, "the run log was written"
    assert DEMO_BITLY_TOKEN.encode() not in data
    assert main(["runs", "show", out["run_id"], "--home", str(home)]) == 0
    assert "succeeded" in capsys.readouterr().out
