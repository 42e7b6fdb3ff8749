"""The trigger payload and the workflow snapshot are stored once per retry lineage: a retry
names the run that holds them instead of copying them. A log of the previous schema
(version 2: loop outputs stored whole) opens, is migrated, reads and retries as before."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

from connector.cli.runs_show import show
from connector.engine.executor import Engine
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.retry_run import retry_run
from connector.engine.run_records import MIGRATIONS
from connector.engine.runlog import RunLog
from connector.engine.runlog_migrate import SCHEMA_VERSION, schema_version
from connector.engine.runlog_store import open_store
from connector.engine.workflow import validate_workflow
from connector.errors import QuotaExhausted

from .conftest import FakeCatalog, FakeRunner, SimClock


def _doc(batch: int = 2) -> dict[str, Any]:
    return {
        "name": "lineage",
        "retry": {"max_attempts": 1},
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.keys }}", "batch_size": batch},
                "action": "fake.get",
                "inputs": {"key": "{{ item }}"},
            }
        ],
    }


def _bytes(log: RunLog, column: str, run_ids: list[str]) -> int:
    total = 0
    for run_id in run_ids:
        (text,) = log.store.execute(f"SELECT {column} FROM runs WHERE id=?", (run_id,)).fetchone()
        total += len(text)
    return total


def test_a_retry_does_not_copy_the_payload_or_the_snapshot(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    keys = [f"key-{i:04d}-" + "p" * 40 for i in range(300)]
    runner.plan("fake.get", keys[5], QuotaExhausted("no"), QuotaExhausted("no"))
    workflow = validate_workflow(_doc(), catalog)
    first = clock.run(engine.run(workflow, {"keys": keys}))
    assert first.status == "failed"
    second = clock.run(retry_run(engine, first.run_id))
    assert second.status == "failed"
    third = clock.run(retry_run(engine, second.run_id))
    assert third.ok
    log = engine.runlog
    lineage = [first.run_id, second.run_id, third.run_id]
    one_trigger = len(json.dumps({"keys": keys}, separators=(",", ":")))
    assert _bytes(log, "trigger_json", lineage) == one_trigger  # stored once, not three times
    assert _bytes(log, "workflow_json", lineage) == _bytes(log, "workflow_json", lineage[:1])
    for run_id in lineage[1:]:
        row = log.store.execute(
            "SELECT trigger_from, workflow_from FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        assert tuple(row) == (first.run_id, first.run_id)  # the root, not the parent
        run = log.get_run(run_id)
        assert run.trigger == {"keys": keys}
        assert run.workflow == log.get_run(first.run_id).workflow
    assert [r.trigger for r in log.list_runs()] == [{"keys": keys}] * 3


def test_a_retry_on_the_current_version_stores_its_own_snapshot(
    engine: Engine, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock, tmp_path: Path
) -> None:
    runner.plan("fake.get", "b", QuotaExhausted("no"))
    source = tmp_path / "flow.json"
    source.write_text(json.dumps(_doc()))
    first = clock.run(
        engine.run(validate_workflow(_doc(), catalog, source=str(source)), {"keys": ["a", "b"]})
    )
    assert first.status == "failed"
    source.write_text(json.dumps(_doc(batch=1)))  # the file changed since
    second = clock.run(retry_run(engine, first.run_id, current=True))
    assert second.ok
    row = engine.runlog.store.execute(
        "SELECT trigger_from, workflow_from, workflow_json FROM runs WHERE id=?",
        (second.run_id,),
    ).fetchone()
    assert row[0] == first.run_id and row[1] is None
    assert json.loads(row[2])["steps"][0]["loop"]["batch_size"] == 1
    assert engine.runlog.get_run(second.run_id).trigger == {"keys": ["a", "b"]}


def _version_2_log(target: Path | str) -> None:
    """A log as the previous release left it: schema version 2, a loop's outputs stored
    whole in its step's and its run's output_json; a failed run of two items."""
    store = open_store(target)
    for script in MIGRATIONS[:2]:
        store.script(script)
    store.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    store.execute("INSERT INTO schema_version (version) VALUES (2)")
    # Compact, as the previous release wrote them (dumps_redacted).
    doc = json.dumps(_doc(), separators=(",", ":"))
    trigger = json.dumps({"keys": ["a", "b"]}, separators=(",", ":"))
    store.execute(
        "INSERT INTO runs (id, workflow_name, workflow_json, source_path, trigger_json, status,"
        " started_at, finished_at, failed_step, error_json, output_json, pid, host)"
        " VALUES ('r-old', 'lineage', ?, NULL, ?, 'failed', 10.0, 11.0, 'each', ?, NULL, 1,"
        " 'gone-host')",
        (doc, trigger, json.dumps({"kind": "quota_exhausted", "message": "no"})),
    )
    summary = {"total": 2, "succeeded": 1, "failed": 1, "skipped": 0}
    whole = {"items": [{"echo": {"key": "a"}}, None], "summary": summary}
    store.execute(
        "INSERT INTO steps (run_id, step_id, position, kind, status, started_at, finished_at,"
        " definition_json, output_json, attempts_json, summary_json) VALUES"
        " ('r-old', 'each', 0, 'loop', 'failed', 10.0, 11.0, ?, ?, '[]', ?)",
        (json.dumps(_doc()["steps"][0]), json.dumps(whole), json.dumps(summary)),
    )
    for idx, status, output in ((0, "succeeded", {"echo": {"key": "a"}}), (1, "failed", None)):
        store.execute(
            "INSERT INTO loop_items (run_id, step_id, idx, status, item_json, output_json,"
            " attempts_json) VALUES ('r-old', 'each', ?, ?, ?, ?, '[]')",
            (idx, status, json.dumps("ab"[idx]), None if output is None else json.dumps(output)),
        )
    store.close()


def test_a_version_2_log_is_migrated_reads_and_retries(
    runlog_target: Path | str, catalog: FakeCatalog, runner: FakeRunner, clock: SimClock
) -> None:
    _version_2_log(runlog_target)
    with RunLog(runlog_target) as log:
        assert schema_version(log.store) == SCHEMA_VERSION >= 3  # 4: trigger tables
        step = log.steps("r-old")[0]
        assert step.output == {
            "items": [{"echo": {"key": "a"}}, None],
            "summary": {"total": 2, "succeeded": 1, "failed": 1, "skipped": 0},
        }
        out = io.StringIO()
        args = {"run_id": "r-old", "json": True, "step": None, "after": None, "limit": 20}
        show(log, type("A", (), args)(), out)  # type: ignore[arg-type]
        shown = json.loads(out.getvalue())
        # A loop step's output is shown as its items' records (not repeated as its output).
        assert shown["steps"][0]["output"] is None
        assert [i["output"] for i in shown["steps"][0]["items"]] == step.output["items"]
        assert [i["status"] for i in shown["steps"][0]["items"]] == ["succeeded", "failed"]

        budgets = {"fake": RateBudget(RateLimitSpec(concurrency=3), clock=clock, name="fake")}
        engine = Engine(catalog, runner, log, budgets=budgets, clock=clock, rng=random.Random(1))
        result = clock.run(retry_run(engine, "r-old"))
        assert result.ok
        assert [c[1]["key"] for c in runner.calls] == ["b"]  # "a" was reused from the old run
        assert list(result.output["items"]) == [{"echo": {"key": "a"}}, {"echo": {"key": "b"}}]
        row = log.store.execute(
            "SELECT trigger_json, trigger_from FROM runs WHERE id=?", (result.run_id,)
        ).fetchone()
        assert tuple(row) == ("", "r-old")
