"""Engine behaviour against the fake runner: retries, duplicate-write safety, loops, retry runs."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.retry_run import retry_run
from connector.engine.workflow import validate_workflow
from connector.errors import QuotaExhausted, ServerError, Throttled, TransportError

from .conftest import FakeCatalog, SimClock


def _wf(catalog: FakeCatalog, steps: list[dict[str, Any]], **extra: Any) -> Any:
    doc = {"name": "t", "retry": {"max_attempts": 5, "initial_delay": 0.5, "jitter": 0}}
    doc.update(extra, steps=steps)
    return validate_workflow(doc, catalog)


def _run(engine: Engine, clock: SimClock, wf: Any, trigger: Any = None) -> Any:
    return clock.run(engine.run(wf, trigger or {}))


def test_retryable_errors_retried_with_waits_recorded(engine, catalog, runner, clock) -> None:
    runner.plan(
        "fake.get",
        "a",
        ServerError("boom", status=503),
        Throttled("slow", status=429, retry_after=7),
    )
    wf = _wf(catalog, [{"id": "g", "action": "fake.get", "inputs": {"key": "a"}}])
    result = _run(engine, clock, wf)
    assert result.ok
    step = engine.runlog.steps(result.run_id)[0]
    assert [a.get("status") for a in step.attempts] == [503, 429, None]
    assert [a.get("wait") for a in step.attempts] == [0.5, 7.0, None]  # server window wins


def test_quota_and_fatal_fail_at_once(engine, catalog, runner, clock) -> None:
    runner.plan(
        "fake.get", "a", QuotaExhausted("monthly limit", status=429, code="MONTHLY_LIMIT_EXCEEDED")
    )
    wf = _wf(catalog, [{"id": "g", "action": "fake.get", "inputs": {"key": "a"}}])
    result = _run(engine, clock, wf)
    assert result.status == "failed" and result.failed_step == "g"
    assert result.error["code"] == "MONTHLY_LIMIT_EXCEEDED"
    assert len(runner.calls) == 1 and clock.sleeps == []


def test_non_idempotent_unknown_outcome_stops_without_retry(engine, catalog, runner, clock) -> None:
    runner.plan("fake.create", "a", TransportError("response lost", write_applied=None))
    wf = _wf(catalog, [{"id": "c", "action": "fake.create", "inputs": {"key": "a"}}])
    result = _run(engine, clock, wf)
    assert result.status == "failed"
    assert result.error["kind"] == "outcome_unknown"
    assert "duplicate" in result.error["message"]
    assert len(runner.calls) == 1


def test_non_idempotent_retried_when_provably_not_applied(engine, catalog, runner, clock) -> None:
    runner.plan("fake.create", "a", TransportError("refused", write_applied=False))
    wf = _wf(catalog, [{"id": "c", "action": "fake.create", "inputs": {"key": "a"}}])
    assert _run(engine, clock, wf).ok
    assert len(runner.calls) == 2 and len(runner.applied) == 1


def test_unknown_outcome_reconciled_instead_of_repeated(engine, catalog, runner, clock) -> None:
    runner.plan("fake.create_checked", "a", TransportError("lost", write_applied=None))
    runner.reconcile_result = {"found": "a"}
    wf = _wf(catalog, [{"id": "c", "action": "fake.create_checked", "inputs": {"key": "a"}}])
    result = _run(engine, clock, wf)
    assert result.ok and result.output == {"found": "a"}
    assert len(runner.calls) == 1 and len(runner.reconciles) == 1


def test_reconcile_says_not_applied_then_write_is_sent_again(
    engine, catalog, runner, clock
) -> None:
    runner.plan("fake.create_checked", "a", TransportError("lost", write_applied=None))
    runner.reconcile_result = None
    wf = _wf(catalog, [{"id": "c", "action": "fake.create_checked", "inputs": {"key": "a"}}])
    assert _run(engine, clock, wf).ok
    assert len(runner.calls) == 2 and len(runner.reconciles) == 1


def _loop(on_error: str = "stop", batch: int = 2) -> list[dict[str, Any]]:
    return [
        {
            "id": "each",
            "loop": {"over": "{{ trigger.keys }}", "batch_size": batch, "on_item_error": on_error},
            "action": "fake.get",
            "inputs": {"key": "{{ item }}", "n": "{{ index }}"},
        }
    ]


def test_loop_keeps_order_and_summarises(engine, catalog, runner, clock) -> None:
    runner.latency = 0.1
    keys = [f"k{i}" for i in range(9)]
    result = _run(engine, clock, _wf(catalog, _loop()), {"keys": keys})
    assert result.ok
    assert [o["echo"]["key"] for o in result.output["items"]] == keys
    assert result.output["summary"] == {"total": 9, "succeeded": 9, "failed": 0, "skipped": 0}


def test_loop_continue_tries_all_and_still_fails(engine, catalog, runner, clock) -> None:
    runner.plan("fake.get", "k1", QuotaExhausted("no"))
    keys = ["k0", "k1", "k2", "k3"]
    result = _run(engine, clock, _wf(catalog, _loop("continue")), {"keys": keys})
    assert result.status == "failed" and result.failed_step == "each"
    step = engine.runlog.steps(result.run_id)[0]
    assert step.summary == {"total": 4, "succeeded": 3, "failed": 1, "skipped": 0}


def test_loop_stop_skips_the_rest(engine, catalog, runner, clock) -> None:
    runner.plan("fake.get", "k0", QuotaExhausted("no"))
    keys = [f"k{i}" for i in range(10)]
    result = _run(engine, clock, _wf(catalog, _loop("stop", batch=1)), {"keys": keys})
    step = engine.runlog.steps(result.run_id)[0]
    assert step.summary == {"total": 10, "succeeded": 0, "failed": 1, "skipped": 9}


def test_loop_concurrency_bounded_by_app_limit(engine, catalog, runner, clock) -> None:
    runner.latency = 1.0
    keys = [f"k{i}" for i in range(12)]
    start = clock.now()
    result = _run(engine, clock, _wf(catalog, _loop(batch=50)), {"keys": keys})
    assert result.ok
    assert clock.now() - start == pytest.approx(4.0)  # 12 items, 3 at a time, 1 s each


def test_retry_run_reruns_only_failed_items(engine, catalog, runner, clock) -> None:
    runner.plan("fake.get", "k2", QuotaExhausted("no"))
    runner.plan("fake.get", "k5", QuotaExhausted("no"))
    keys = [f"k{i}" for i in range(8)]
    steps = [{"id": "first", "action": "fake.list"}, *_loop("continue")]
    first = _run(engine, clock, _wf(catalog, steps), {"keys": keys})
    assert first.status == "failed"
    runner.calls.clear()
    second = clock.run(retry_run(engine, first.run_id))
    assert second.ok
    assert sorted(c[1]["key"] for c in runner.calls) == ["k2", "k5"]
    assert engine.runlog.get_run(second.run_id).parent_run_id == first.run_id
    assert [o["echo"]["key"] for o in second.output["items"]] == keys
    reused = [s.reused_from for s in engine.runlog.steps(second.run_id)]
    assert reused[0] == first.run_id


def test_retry_multi_step_item_never_repeats_a_finished_write(
    engine, catalog, runner, clock
) -> None:
    runner.plan("fake.get", "k1", QuotaExhausted("no"))
    steps = [
        {
            "id": "each",
            "loop": {"over": "{{ trigger.keys }}", "on_item_error": "continue"},
            "steps": [
                {"id": "make", "action": "fake.create", "inputs": {"key": "{{ item }}"}},
                {
                    "id": "tag",
                    "action": "fake.get",
                    "inputs": {"key": "{{ steps.make.output.echo.key }}"},
                },
            ],
        }
    ]
    first = _run(engine, clock, _wf(catalog, steps), {"keys": ["k0", "k1"]})
    assert first.status == "failed"
    runner.calls.clear()
    second = clock.run(retry_run(engine, first.run_id))
    assert second.ok
    assert runner.calls == [("fake.get", {"key": "k1"})]
