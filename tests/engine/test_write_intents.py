"""Write intents against the fake runner: recorded before the request, outcome after, and
what a retry of the lineage does with them (issue 7, points 2, 3 and 4)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.retry_run import retry_run
from connector.engine.runlog import RunLog
from connector.engine.workflow import validate_workflow
from connector.engine.writes import WriteSafety, fill_keys, parse_resolutions
from connector.errors import AlreadyRetried, InvalidInput, RunLogError, TransportError

from .conftest import FakeCatalog, FakeRunner, SimClock

LOST = TransportError("lost the connection after sending", write_applied=None)


def _loop(catalog: FakeCatalog, action: str, keys: list[str], **retry: Any) -> Any:
    doc = {
        "name": "writes",
        "retry": {"max_attempts": 2, "initial_delay": 0.1, "jitter": 0, **retry},
        "steps": [
            {
                "id": "each",
                "loop": {
                    "over": "{{ trigger.keys }}",
                    "batch_size": 1,
                    "on_item_error": "continue",
                },
                "action": action,
                "inputs": {"key": "{{ item }}"},
            }
        ],
    }
    return validate_workflow(doc, catalog), {"keys": keys}


def _intents(log: RunLog) -> dict[tuple[str, int], str]:
    rows = log.db.execute("SELECT step_id, idx, state FROM intents").fetchall()
    return {(step, idx): state for step, idx, state in rows}


def _engine(catalog: FakeCatalog, runner: Any, path: Path, clock: SimClock) -> Engine:
    budgets = {"fake": RateBudget(RateLimitSpec(concurrency=3), clock=clock, name="fake")}
    return Engine(catalog, runner, RunLog(path), budgets=budgets, clock=clock, rng=random.Random(7))


def test_intent_is_committed_before_the_request_and_its_outcome_after(
    catalog, clock, tmp_path
) -> None:
    db = tmp_path / "runs.db"
    seen: list[list[tuple[Any, ...]]] = []

    class Peeking(FakeRunner):
        async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
            # What another process reading the file sees while the request is in flight.
            with sqlite3.connect(db) as other:
                seen.append(other.execute("SELECT idx, state, inputs_json FROM intents").fetchall())
            return await super().run(action_id, inputs)

    engine = _engine(catalog, Peeking(clock), db, clock)
    wf, trigger = _loop(catalog, "fake.create", ["a", "b"])
    result = clock.run(engine.run(wf, trigger))
    assert result.ok
    assert seen[0] == [(0, "pending", '{"key":"a"}')]
    assert seen[1][0][:2] == (0, "applied") and seen[1][1] == (1, "pending", '{"key":"b"}')
    assert _intents(engine.runlog) == {("each", 0): "applied", ("each", 1): "applied"}


def test_idempotent_actions_record_no_intent(engine, catalog, clock) -> None:
    wf, trigger = _loop(catalog, "fake.get", ["a", "b"])
    assert clock.run(engine.run(wf, trigger)).ok
    assert _intents(engine.runlog) == {}


def test_unknown_outcome_is_never_resent_by_a_retry_until_the_user_resolves_it(
    engine, catalog, runner, clock
) -> None:
    runner.plan("fake.create", "b", LOST)
    wf, trigger = _loop(catalog, "fake.create", ["a", "b", "c"])
    first = clock.run(engine.run(wf, trigger))
    assert first.status == "failed"
    items = {i.index: i for i in engine.runlog.items(first.run_id, "each")}
    assert items[1].error["kind"] == "outcome_unknown"
    assert "--resolve ITEM=applied" in items[1].error["message"]
    assert _intents(engine.runlog)[("each", 1)] == "unknown"
    sent = len(runner.calls)

    # A plain retry neither resends it nor reads it back (the action cannot check).
    second = clock.run(retry_run(engine, first.run_id))
    assert second.status == "failed" and len(runner.calls) == sent
    item = next(i for i in engine.runlog.items(second.run_id, "each") if i.index == 1)
    assert item.error["kind"] == "outcome_unknown"
    assert "each[1]=applied" in item.error["message"]

    # The user checked: it was never created. The retry of the retry sends it once.
    third = clock.run(retry_run(engine, second.run_id, resolve={"each[1]": "not-applied"}))
    assert third.ok and len(runner.calls) == sent + 1
    assert runner.calls[-1] == ("fake.create", {"key": "b"})
    assert _intents(engine.runlog)[("each", 1)] == "applied"


def test_resolved_as_applied_is_taken_as_done_without_a_request(
    engine, catalog, runner, clock
) -> None:
    runner.plan("fake.create", "a", LOST)
    wf, trigger = _loop(catalog, "fake.create", ["a"])
    first = clock.run(engine.run(wf, trigger))
    second = clock.run(retry_run(engine, first.run_id, resolve=["each[0]=applied"]))
    assert second.ok and len(runner.calls) == 1
    row = engine.runlog.db.execute("SELECT state, resolved_by FROM intents").fetchone()
    assert row == ("applied", "user")


def test_resolve_names_only_open_writes(engine, catalog, runner, clock) -> None:
    runner.plan("fake.create", "a", LOST)
    wf, trigger = _loop(catalog, "fake.create", ["a", "b"])
    first = clock.run(engine.run(wf, trigger))
    with pytest.raises(
        InvalidInput, match=r"each\[1\]: no write with an unknown outcome.*each\[0\]"
    ):
        clock.run(retry_run(engine, first.run_id, resolve={"each[1]": "applied"}))
    with pytest.raises(InvalidInput, match="ITEM=applied or ITEM=not-applied"):
        parse_resolutions(["each[0]=maybe"])
    with pytest.raises(InvalidInput, match="ITEM=applied"):
        parse_resolutions(["each[0]"])
    assert engine.runlog.child_of(first.run_id) is None  # refused before any run was created


def _crash_mid_write(engine: Engine, catalog: FakeCatalog, clock: SimClock, keys: list[str]) -> str:
    """A run cut off while item 1's request is in flight, as `kill -9` leaves it: the
    intent pending, the run `running`, its process gone."""

    class Crash(BaseException):
        pass

    runner = engine.runner
    original = runner.run

    async def crashing(action_id: str, inputs: dict[str, Any]) -> Any:
        if inputs["key"] == keys[1]:
            runner.applied.append(inputs)  # the request reached the API
            raise Crash
        return await original(action_id, inputs)

    runner.run = crashing  # type: ignore[method-assign]
    wf, trigger = _loop(catalog, "fake.create_checked", keys)
    with pytest.raises(Crash):
        clock.run(engine.run(wf, trigger))
    runner.run = original  # type: ignore[method-assign]
    (run_id,) = [r.id for r in engine.runlog.list_runs()]
    engine.runlog.db.execute("UPDATE runs SET pid=? WHERE id=?", (2**22 + 12345, run_id))
    assert engine.runlog.get_run(run_id).interrupted
    return run_id


def test_pending_intent_after_a_crash_is_read_back_before_anything_is_sent(
    engine, catalog, runner, clock
) -> None:
    run_id = _crash_mid_write(engine, catalog, clock, ["a", "b", "c"])
    assert _intents(engine.runlog) == {("each", 0): "applied", ("each", 1): "pending"}
    runner.reconcile_result = {"found": "b"}
    result = clock.run(retry_run(engine, run_id))
    assert result.ok
    assert [i["key"] for i in runner.applied] == ["a", "b", "c"]  # b never sent twice
    assert [c[1]["key"] for c in runner.reconciles] == ["b"]
    assert result.output["items"][1] == {"found": "b"}


def test_pending_intent_proven_not_applied_is_sent_once(engine, catalog, runner, clock) -> None:
    run_id = _crash_mid_write(engine, catalog, clock, ["a", "b"])
    runner.applied.pop()  # this time the crash came before the request left
    runner.reconcile_result = None
    assert clock.run(retry_run(engine, run_id)).ok
    assert [i["key"] for i in runner.applied] == ["a", "b"]


def test_a_run_is_retried_into_one_child_even_at_once(catalog, clock, tmp_path) -> None:
    runner = FakeRunner(clock)
    runner.plan("fake.create_checked", "b", TransportError("refused", write_applied=False))
    engine = _engine(catalog, runner, tmp_path / "runs.db", clock)
    wf, trigger = _loop(catalog, "fake.create_checked", ["a", "b", "c"], max_attempts=1)
    first = clock.run(engine.run(wf, trigger))
    assert first.status == "failed" and len(runner.applied) == 2

    # Two retries at once, each with its own connection to the file (two processes).
    other = _engine(catalog, runner, tmp_path / "runs.db", clock)

    async def both() -> list[Any]:
        return await asyncio.gather(
            retry_run(engine, first.run_id), retry_run(other, first.run_id), return_exceptions=True
        )

    outcomes = clock.run(both())
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, AlreadyRetried)]
    assert len(done) == 1 and len(refused) == 1 and done[0].ok
    assert refused[0].child_run_id == done[0].run_id
    assert [i["key"] for i in runner.applied] == ["a", "c", "b"]

    # Again after it finished: the same child, nothing sent.
    with pytest.raises(AlreadyRetried, match=f"already retried as run {done[0].run_id}"):
        clock.run(retry_run(engine, first.run_id))
    assert len(runner.applied) == 3
    other.runlog.close()


def test_run_log_that_cannot_be_written_stops_the_run_before_the_next_request(
    catalog, clock, tmp_path
) -> None:
    runner = FakeRunner(clock)
    engine = _engine(catalog, runner, tmp_path / "runs.db", clock)
    db = engine.runlog.db

    async def fill_disk_after_three(action_id: str, inputs: dict[str, Any]) -> Any:
        out = await FakeRunner.run(runner, action_id, inputs)
        if len(runner.calls) == 3:
            # SQLite's own "disk full": the file may not grow by one more page.
            (pages,) = db.execute("PRAGMA page_count").fetchone()
            db.execute(f"PRAGMA max_page_count={pages}")
        return out

    runner.run = fill_disk_after_three  # type: ignore[method-assign]
    keys = [f"k{i:03d}-" + "x" * 400 for i in range(60)]
    wf, trigger = _loop(catalog, "fake.create_checked", keys)
    try:
        result = clock.run(engine.run(wf, trigger))
        error = result.error
    except RunLogError as exc:  # the end of the run could not be recorded either
        error = exc.to_dict()
    assert error["kind"] == "run_log"
    assert "disk is full" in error["message"] and str(tmp_path / "runs.db") in error["message"]
    assert "\n" not in error["message"]
    sent = [inputs["key"] for _, inputs in runner.calls]
    assert 3 <= len(sent) < len(keys)
    # Every request that left has its intent in the file; none left without one.
    db.execute("PRAGMA max_page_count=1073741823")
    recorded = [
        k
        for (k,) in db.execute(
            "SELECT json_extract(inputs_json, '$.key') FROM intents ORDER BY idx"
        )
    ]
    assert recorded == sent


def test_fill_keys_only_where_empty_and_reuses_earlier_keys() -> None:
    inputs, key = fill_keys({"url": "u"}, "slug")
    assert len(key) == 7 and key.isalnum() and inputs == {"url": "u", "slug": key}
    assert fill_keys({"slug": "mine"}, "slug") == ({"slug": "mine"}, None)
    assert fill_keys({"url": "u"}, "slug", "abc1234")[0]["slug"] == "abc1234"
    links = {"links": [{"d": 1}, {"d": 2, "s": "given"}, {"d": 3}]}
    filled, keys = fill_keys(links, "links[].s")
    assert keys[1] is None and filled["links"][1]["s"] == "given"
    assert [x["s"] for x in filled["links"]] == [keys[0], "given", keys[2]]
    again, same = fill_keys(links, "links[].s", keys)
    assert again == filled and same == keys
    assert WriteSafety("client_key", "slug").can_check and not WriteSafety("resend").guarded


def test_an_action_step_outside_a_loop_is_guarded_too(engine, catalog, runner, clock) -> None:
    runner.plan("fake.create", "a", LOST)
    doc = {"name": "one", "steps": [{"id": "c", "action": "fake.create", "inputs": {"key": "a"}}]}
    wf = validate_workflow(doc, catalog)
    first = clock.run(engine.run(wf, {}))
    assert first.error["kind"] == "outcome_unknown"
    assert _intents(engine.runlog) == {("c", -1): "unknown"}
    second = clock.run(retry_run(engine, first.run_id))
    assert second.error["kind"] == "outcome_unknown" and len(runner.calls) == 1
    assert "--resolve c=applied" in second.error["message"]
    third = clock.run(retry_run(engine, second.run_id, resolve={"c": "not-applied"}))
    assert third.ok and len(runner.calls) == 2


def test_client_keys_kept_for_an_open_write_renewed_after_a_failed_one(tmp_path) -> None:
    from connector.engine.intents import IntentLog
    from connector.engine.writes import WriteTarget, guarded_call

    log = RunLog(tmp_path / "runs.db")
    intents: IntentLog = log.intents
    sent: list[str] = []

    async def send(inputs: dict[str, Any], reconcile_first: bool) -> Any:
        from connector.engine.attempts import CallOutcome

        sent.append(inputs["slug"])
        error = LOST if len(sent) == 1 else InvalidInput("taken") if len(sent) == 2 else None
        return CallOutcome(
            output=None if error else {"ok": 1}, error=error, unresolved=len(sent) == 1
        )

    safety = WriteSafety("client_key", "slug")

    def call(run_id: str) -> Any:
        target = WriteTarget("L", run_id, "s")
        return asyncio.run(
            guarded_call(intents=intents, action_id="a.b", safety=safety, inputs={"u": 1},
                         target=target, send=send, now=lambda: 1.0, where=None)
        )  # fmt: skip

    call("r1")  # lost: unknown, under its first key
    call("r2")  # the same write again: the same key (a duplicate would be refused)
    call("r3")  # that one provably failed: a new key
    assert sent[0] == sent[1] != sent[2]
    log.close()
