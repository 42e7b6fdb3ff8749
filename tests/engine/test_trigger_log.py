"""The trigger tables of the run log, on SQLite and PostgreSQL: an event recorded once
however many connections deliver it at once, its run claimed once and only with the run's
row, a poll's events committed only over the state it read, a schedule's time fired once,
and a re-enabled polling trigger resuming from its state."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from connector.engine.runlog import RunLog
from connector.engine.trigger_log import TriggerLog, TriggerRow
from connector.errors import EventTaken

WORKFLOW = {"name": "w", "steps": []}
POLL = {"action": "bitly.new_bitlink", "inputs": {"group_guid": "B1"}, "interval": 60}


def _enable(log: TriggerLog, spec: dict[str, Any] = POLL, kind: str = "poll") -> TriggerRow:
    log.enable("wf_1", version=1, kind=kind, spec=spec, now=10.0, due_at=10.0)
    row = log.get("wf_1")
    assert row is not None
    return row


def test_five_connections_delivering_one_event_at_once_record_it_once(
    runlog_target: Path | str,
) -> None:
    with RunLog(runlog_target) as runlog:
        _enable(TriggerLog(runlog.store), {"event_id": "id"}, "webhook")
    start = threading.Barrier(5)

    def deliver(_: int) -> bool:
        with RunLog(runlog_target) as runlog:  # each its own connection, as processes have
            start.wait()
            return TriggerLog(runlog.store).record_delivery("wf_1", "ev-1", {"id": 1}, now=1.0)

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(deliver, range(5)))
    assert sorted(outcomes) == [False, False, False, False, True]
    with RunLog(runlog_target) as runlog:
        log = TriggerLog(runlog.store)
        assert [e.key for e in log.pending()] == ["ev-1"]
        assert log.event_counts("wf_1") == {"events": 1, "started": 0, "rejected": 0, "pending": 1}


def test_an_event_is_claimed_once_and_only_with_its_runs_row(runlog_target: Path | str) -> None:
    with RunLog(runlog_target) as runlog:
        log = TriggerLog(runlog.store)
        _enable(log, {"event_id": "id"}, "webhook")
        log.record_delivery("wf_1", "ev-1", {"id": 1}, now=1.0)

        def create(claim_key: str) -> str:
            with runlog.store.transaction():
                run_id = runlog.create_run(
                    workflow=WORKFLOW, trigger={}, source_path=None,
                    parent_run_id=None, started_at=2.0,
                )  # fmt: skip
                log.claim("wf_1", claim_key, run_id)
            return run_id

        first = create("ev-1")
        with pytest.raises(EventTaken, match="started already"):
            create("ev-1")
        with pytest.raises(EventTaken):
            create("never-recorded")
        # The refused claims rolled their runs' rows back with them.
        assert [r.id for r in runlog.list_runs()] == [first]
        found = log.event("wf_1", "ev-1")
        assert found is not None and found.run_id == first and log.pending() == []


def test_a_poll_commits_its_events_only_over_the_state_it_read(runlog_target: Path | str) -> None:
    with RunLog(runlog_target) as runlog:
        log = TriggerLog(runlog.store)
        row = _enable(log)
        assert log.record_poll(row, [], {"since": 1}, now=11.0, due_at=71.0)
        # A second poll started from the same (now stale) state writes nothing.
        assert not log.record_poll(row, [("a", {"id": "a"})], {"since": 2}, now=12.0, due_at=72.0)
        fresh = log.get("wf_1")
        assert fresh is not None and fresh.state == {"since": 1} and log.pending() == []
        events = [("a", {"id": "a"}), ("b", {"id": "b"})]
        assert log.record_poll(fresh, events, {"since": 2}, now=13.0, due_at=73.0)
        assert [(e.key, e.payload) for e in log.pending()] == events
        assert log.due(72.9) == [] and [r.workflow_id for r in log.due(73.0)] == ["wf_1"]
        # Disabled, a poll in flight commits nothing; enabled again with the same spec, the
        # state is kept (it resumes: no replay, no skip); with another spec, it starts afresh.
        log.disable("wf_1", now=14.0)
        again = log.get("wf_1")
        assert again is not None and not again.enabled
        assert not log.record_poll(again, [], {"since": 3}, now=15.0, due_at=75.0)
        assert _enable(log).state == {"since": 2}
        other = {**POLL, "inputs": {"group_guid": "B2"}}
        assert _enable(log, other).state is None


def test_a_schedule_time_fires_once(runlog_target: Path | str) -> None:
    spec = {"cron": "* * * * *", "timezone": "UTC"}
    with RunLog(runlog_target) as runlog:
        log = TriggerLog(runlog.store)
        row = _enable(log, spec, "schedule")
        assert log.record_fire(row, "t60", {}, fired_at=60.0, now=61.0, due_at=120.0)
        assert not log.record_fire(row, "t60", {}, fired_at=60.0, now=61.5, due_at=120.0)
        assert [e.key for e in log.pending()] == ["t60"]
        fired = log.get("wf_1")
        assert fired is not None and (fired.last_fired_at, fired.due_at) == (60.0, 120.0)
