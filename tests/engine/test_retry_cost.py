"""A retry costs what it re-runs: the parent's items are read in one query and copied as
stored (not decoded and written again), and the CLI prints a summary, not every item."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from connector.cli import run_cmd
from connector.engine.executor import RunResult
from connector.engine.retry_run import retry_run
from connector.engine.workflow import validate_workflow
from connector.errors import QuotaExhausted
from connector.redact import forget_secrets, register_secret


def _loop_run(engine: Any, catalog: Any, clock: Any, keys: list[str]) -> RunResult:
    doc = {
        "name": "t",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.keys }}", "on_item_error": "continue"},
                "action": "fake.get",
                "inputs": {"key": "{{ item }}"},
            }
        ],
    }
    return clock.run(engine.run(validate_workflow(doc, catalog), {"keys": keys}))  # type: ignore[no-any-return]


# SQLite's statement trace counts the queries (the other tests here run on both backends);
# the parent's items are read a page (1,000) per query: 40 items, one query.
@pytest.mark.parametrize("runlog_target", ["sqlite"], indirect=True)
def test_the_parents_items_are_read_in_one_query(engine, catalog, runner, clock) -> None:
    runner.plan("fake.get", "k3", QuotaExhausted("no"))
    keys = [f"k{i}" for i in range(40)]
    first = _loop_run(engine, catalog, clock, keys)
    assert first.status == "failed"
    statements: list[str] = []
    engine.runlog.db.set_trace_callback(statements.append)
    second = clock.run(retry_run(engine, first.run_id))
    engine.runlog.db.set_trace_callback(None)
    assert second.ok
    reads = [s for s in statements if re.match(r"\s*SELECT\b.*\bFROM loop_items\b", s, re.S)]
    assert len(reads) == 1, reads
    # ... and copied by one statement, not one per item.
    copies = [s for s in statements if re.match(r"\s*INSERT\b.*\bloop_items\b", s, re.S)]
    assert len(copies) == 2, copies  # the reused items, then the one item run again
    # The run's steps are read without their outputs (a loop's holds every item).
    assert not [s for s in statements if re.search(r"SELECT .*\boutput_json\b.* FROM steps", s)]


def test_reused_items_are_copied_as_stored_and_marked(engine, catalog, runner, clock) -> None:
    runner.plan("fake.get", "k1", QuotaExhausted("no"))
    first = _loop_run(engine, catalog, clock, ["k0", "k1", "k2"])
    second = clock.run(retry_run(engine, first.run_id))
    log = engine.runlog
    before = {i.index: i for i in log.stored_items(first.run_id, "each")}
    after = {i.index: i for i in log.stored_items(second.run_id, "each")}
    for idx in (0, 2):
        assert after[idx].row[:-1] == before[idx].row[:-1]  # every column, byte for byte
        assert after[idx].reused_from == first.run_id
    assert after[1].reused_from is None and after[1].status == "succeeded"
    assert [o["echo"]["key"] for o in second.output["items"]] == ["k0", "k1", "k2"]


def test_a_secret_registered_since_is_masked_in_the_copies(engine, catalog, runner, clock) -> None:
    secret = "tok_registered_after_the_parent_0123"
    runner.plan("fake.get", "k1", QuotaExhausted("no"))
    first = _loop_run(engine, catalog, clock, [secret, "k1"])
    try:
        register_secret(secret)
        second = clock.run(retry_run(engine, first.run_id))
    finally:
        forget_secrets()
    copied = engine.runlog.stored_items(second.run_id, "each")[0]
    texts = [v for v in copied.row if isinstance(v, str)]
    assert not any(secret in text for text in texts)
    assert any("REDACTED" in text for text in texts)


def test_the_cli_prints_a_summary_not_every_item(capsys) -> None:
    items = [{"key": f"k{i}", "n": i} for i in range(500)]
    result = RunResult(
        "r1", "succeeded", {"items": items, "summary": {"total": 500}}, None, None, 0.0, 1.0
    )
    assert run_cmd._print_result(result, as_json=False) == 0
    out = capsys.readouterr().out
    assert "k19" in out and "k20" not in out
    assert "... 480 more of 500 not shown" in out
    assert "total: 500" in out
    assert "connector runs show r1 --json" in out
    assert len(out.splitlines()) < 40


def test_the_cli_json_still_has_every_item(capsys) -> None:
    items = [{"key": f"k{i}"} for i in range(50)]
    result = RunResult("r1", "succeeded", {"items": items}, None, None, 0.0, 1.0)
    run_cmd._print_result(result, as_json=True)
    assert len(json.loads(capsys.readouterr().out)["output"]["items"]) == 50


def test_a_short_output_is_printed_whole(capsys) -> None:
    result = RunResult("r1", "succeeded", {"items": [1, 2, 3]}, None, None, 0.0, 1.0)
    run_cmd._print_result(result, as_json=False)
    out = capsys.readouterr().out
    assert "not shown" not in out and "runs show" not in out
