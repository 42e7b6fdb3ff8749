"""A composite call cut off mid-call (its worker lost) and run again by another engine goes on
with each of its own requests' tries from the run log's journal: one request is tried at most
`max_attempts` times across both executions, a try cut off in flight counts, and a write whose
answer was lost is read back before anything more is sent (attempt_journal.py,
request_tries.py). Engine level, on SQLite and PostgreSQL: the second engine stands in for the
worker that takes the activity over; the API is scripted (httpx mock transport), the clock fake.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.catalog import load_catalog
from connector.clock import FakeClock
from connector.engine.attempt_journal import AttemptJournal
from connector.engine.executor import StepFailed
from connector.engine.rate_limits import RateLimitSpec
from connector.engine.report import render_run
from connector.engine.runlog import RunLog
from connector.engine.session import engine_session
from connector.engine.workflow import ActionStep, validate_workflow

CATALOG = load_catalog()
GROUP = "Bscripted01"
RETRY = {"max_attempts": 5, "initial_delay": 1.0, "multiplier": 2.0, "jitter": 0.0}
CAMPAIGN = "GET /v4/campaigns/C1"
POST = "POST /v4/shorten"
LOOKUP = f"GET /v4/groups/{GROUP}/bitlinks"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Mid:
    def random(self) -> float:
        return 0.5  # no jitter: waits are exactly the backoff


class Worker:
    """An API scripted by `answer`, every request counted; `lose_at(key, n)` makes the
    worker die at the n-th request `key`: in flight (never answered), or just after its
    answer (during the wait that follows)."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.sent: Counter[str] = Counter()
        self.cut: tuple[str, int, bool] | None = None
        self.task: asyncio.Task[Any] | None = None

    def lose_at(self, key: str, n: int, *, in_flight: bool) -> None:
        self.cut = (key, n, in_flight)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        self.sent[key] += 1
        if self.cut is not None and self.cut[:2] == (key, self.sent[key]):
            assert self.task is not None
            self.task.cancel()  # delivered at the next await: the request, or the wait
            if self.cut[2]:
                await asyncio.Event().wait()
        return self.answer(request)


async def _run_step(target: Path | str, run_id: str, doc: dict[str, Any], api: Worker,
                    clock: FakeClock) -> Any:  # fmt: skip
    """Step 0 of the run, as a Temporal worker's engine runs it (its calls journaled)."""
    async with engine_session(
        CATALOG,
        target,
        base_urls={"bitly": "http://bitly.test/v4"},
        credentials={"bitly": "scripted-token-0000"},
        transport=httpx.MockTransport(api.handle),
        overrides={"bitly": RateLimitSpec(concurrency=5, learn=False)},
        clock=clock,
        rng=Mid(),
        env={},
    ) as engine:
        engine.journal = AttemptJournal(engine.runlog)
        workflow = validate_workflow(doc, CATALOG)
        step = workflow.steps[0]
        assert isinstance(step, ActionStep)
        engine.bind_run(run_id, workflow, run_id)
        api.task = asyncio.current_task()
        return await engine.run_step(run_id, 0, step, {"trigger": None, "steps": {}}, None)


def _lose(target: Path | str, doc: dict[str, Any], lost: Worker, clock: FakeClock) -> str:
    """A new run whose step is run on a worker that is lost; the run's id."""
    with RunLog(target) as log:
        run_id = log.create_run(
            workflow=doc, trigger=None, source_path=None, parent_run_id=None,
            started_at=clock.wall(),
        )  # fmt: skip
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(_run_step(target, run_id, doc, lost, clock))
    return run_id


@dataclass
class Resumed:
    """A step run on a worker that was lost, then on another."""

    run_id: str
    lost: Counter[str]  # what each worker sent
    again: Counter[str]
    clock: FakeClock
    #: what the second execution raised (StepFailed) or returned
    outcome: Any
    #: the step's attempt records
    attempts: list[dict[str, Any]]


def _lose_then_resume(
    target: Path | str, doc: dict[str, Any], answer: Callable[[httpx.Request], httpx.Response],
    cut: str, at: int, *, in_flight: bool, takeover_after: float = 0.0,
) -> Resumed:  # fmt: skip
    """Run the step on a worker lost at request `cut`'s `at`-th send, then on another."""
    clock = FakeClock()
    lost, again = Worker(answer), Worker(answer)
    lost.lose_at(cut, at, in_flight=in_flight)
    run_id = _lose(target, doc, lost, clock)
    clock.advance(takeover_after)  # until Temporal gives the activity to another worker
    clock.sleeps.clear()
    try:
        outcome = asyncio.run(_run_step(target, run_id, doc, again, clock))
    except StepFailed as failed:
        outcome = failed
    attempts = _attempts(target, run_id)
    return Resumed(run_id, lost.sent, again.sent, clock, outcome, attempts)


def _attempts(target: Path | str, run_id: str) -> list[dict[str, Any]]:
    with RunLog(target, readonly=True) as log:
        (step,) = log.steps(run_id)
        return step.attempts


def _journal_rows(target: Path | str) -> int:
    with RunLog(target, readonly=True) as log:
        return int(log.store.execute("SELECT count(*) FROM call_attempts").fetchone()[0])


# -- a read inside a composite, failing every time ---------------------------------------------

REPORT: dict[str, Any] = {
    "name": "report",
    "retry": RETRY,
    "steps": [
        {
            "id": "r",
            "action": "bitly.campaign_performance_report",
            "inputs": {"campaign_guid": "C1"},
        }
    ],
}


def _unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"message": "TEMPORARILY_UNAVAILABLE"})


def test_a_composite_cut_off_in_its_wait_goes_on_with_try_4(runlog_target: Path | str) -> None:
    run = _lose_then_resume(runlog_target, REPORT, _unavailable, CAMPAIGN, 3, in_flight=False)
    assert run.lost[CAMPAIGN] == 3
    assert run.again[CAMPAIGN] == 2, "tries 4 and 5 only: 5 in all, not 3 + 5"
    assert isinstance(run.outcome, StepFailed) and run.outcome.error["status"] == 503
    # The wait after try 4 (8 s); the one after try 3 was over when the worker was lost.
    assert run.clock.sleeps == [8.0]
    attempts = run.attempts
    assert [(a["attempt"], a["result"]) for a in attempts] == [(1, "lost"), (2, "failed")]
    shown = [[(t["try"], t["result"]) for t in a["requests"]] for a in attempts]
    assert shown == [[(1, "failed"), (2, "failed"), (3, "failed")], [(4, "failed"), (5, "failed")]]
    assert [t.get("wait") for t in attempts[0]["requests"]] == [1.0, 2.0, 4.0]
    assert _journal_rows(runlog_target) == 2, "the call's row and its request's"


def test_a_try_cut_off_in_flight_counts_and_its_backoff_goes_on(
    runlog_target: Path | str,
) -> None:
    run = _lose_then_resume(
        runlog_target, REPORT, _unavailable, CAMPAIGN, 4, in_flight=True, takeover_after=3.0
    )
    assert (run.lost[CAMPAIGN], run.again[CAMPAIGN]) == (4, 1), "try 4 was lost: one more"
    assert isinstance(run.outcome, StepFailed) and run.outcome.error["status"] == 503
    assert run.clock.sleeps == [5.0], "the backoff after try 4 (8 s), less the 3 s gone by"
    attempts = run.attempts
    tries = [[(t["try"], t["result"]) for t in a["requests"]] for a in attempts]
    assert tries == [[(1, "failed"), (2, "failed"), (3, "failed"), (4, "lost")], [(5, "failed")]]
    with RunLog(runlog_target, readonly=True) as log:
        shown = "\n".join(render_run(log, run.run_id))
    assert "GET /campaigns/C1: tried 4 times, 3 failed (HTTP 503), 1 lost with its worker" in shown


def test_a_composite_whose_request_used_every_try_sends_it_no_more(
    runlog_target: Path | str,
) -> None:
    run = _lose_then_resume(runlog_target, REPORT, _unavailable, CAMPAIGN, 5, in_flight=True)
    assert run.lost[CAMPAIGN] == 5 and run.again[CAMPAIGN] == 0
    assert isinstance(run.outcome, StepFailed)
    assert "try 5 was cut off when its worker stopped" in run.outcome.error["message"]


# -- Find or Create: every POST /shorten loses its answer ---------------------------------------

FIND_OR_CREATE: dict[str, Any] = {
    "name": "find or create",
    "retry": RETRY,
    "steps": [
        {
            "id": "f",
            "action": "bitly.find_or_create_bitlink",
            "inputs": {"long_url": "https://example.com/a", "group_guid": GROUP},
        }
    ],
}


def _answers_lost(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v4/shorten":
        raise httpx.ReadError("connection lost after sending")
    if request.url.path == f"/v4/groups/{GROUP}/bitlinks":
        return httpx.Response(200, json={"links": [], "pagination": {}})
    return httpx.Response(404, json={"message": "NOT_FOUND"})


def test_find_or_create_lost_with_its_fifth_post_reads_back_once_and_posts_no_more(
    runlog_target: Path | str,
) -> None:
    run = _lose_then_resume(runlog_target, FIND_OR_CREATE, _answers_lost, POST, 5, in_flight=True)
    assert run.lost[POST] == 5 and run.again[POST] == 0, "no sixth POST"
    assert isinstance(run.outcome, StepFailed)
    attempts = run.attempts
    calls = [(a["attempt"], a.get("call", "write"), a["result"]) for a in attempts]
    # The attempt cut off; one read-back (the link is not there); then the call again, whose
    # POST has no try left: nothing is sent, nothing more read back.
    assert calls == [(1, "write", "lost"), (2, "reconcile", "not_applied"), (3, "write", "failed")]
    posts = [t for t in attempts[0]["requests"] if t["request"].startswith("POST /shorten")]
    assert [(t["try"], t["result"]) for t in posts] == [
        (1, "failed"), (2, "failed"), (3, "failed"), (4, "failed"), (5, "lost"),
    ]  # fmt: skip
    assert "requests" not in attempts[2], "the call again: its POST not sent, no lookup tried"
    # The lookup the lost worker made counts too (its answer not recorded: lost), then the
    # read-back's and the call's: 3 in all.
    assert (run.lost[LOOKUP], run.again[LOOKUP]) == (1, 2)
    lookups = [t for t in attempts[0]["requests"] if t["request"].startswith("GET /groups")]
    assert [(t["try"], t["result"]) for t in lookups] == [(1, "lost")]
    with RunLog(runlog_target, readonly=True) as log:
        assert log.intents.open_in(run.run_id) == [], "the read-back settled the write"


def test_find_or_create_lost_after_its_third_post_posts_twice_more(
    runlog_target: Path | str,
) -> None:
    run = _lose_then_resume(runlog_target, FIND_OR_CREATE, _answers_lost, POST, 3, in_flight=True)
    assert (run.lost[POST], run.again[POST]) == (3, 2), "5 POSTs in all"
    assert isinstance(run.outcome, StepFailed)
    attempts = run.attempts
    calls = [(a["attempt"], a.get("call", "write"), a["result"]) for a in attempts]
    # Read back before anything is sent again; and once more after the last POST's answer
    # was lost too.
    assert calls == [
        (1, "write", "lost"), (2, "reconcile", "not_applied"), (3, "write", "failed"),
        (4, "reconcile", "not_applied"),
    ]  # fmt: skip
    posts = [t for t in attempts[2]["requests"] if t["request"].startswith("POST /shorten")]
    assert [t["try"] for t in posts] == [4, 5]


def test_a_first_execution_journals_each_try_before_it_is_sent(
    runlog_target: Path | str,
) -> None:
    """What the lost worker left: the request's row names its tries, the last in flight."""
    clock = FakeClock()
    lost = Worker(_unavailable)
    lost.lose_at(CAMPAIGN, 2, in_flight=True)
    run_id = _lose(runlog_target, REPORT, lost, clock)
    with RunLog(runlog_target) as log:
        journal = AttemptJournal(log)
        (state,) = journal.load_requests((run_id, "r", -1, "")).values()
    assert state["request"] == "GET /campaigns/C1"
    first, second = state["tries"]
    assert (first["try"], first["result"], first["wait"], first["status"]) == (
        1,
        "failed",
        1.0,
        503,
    )
    assert second["try"] == 2 and "result" not in second, "sent, no answer yet"
    assert "scripted-token" not in str(state)


def test_an_embedded_composite_journals_nothing(tmp_path: Path) -> None:
    """No journal (the embedded engine): not a row, not a digest."""

    async def go() -> None:
        api = Worker(_unavailable)
        async with engine_session(
            CATALOG, tmp_path / "runs.db", base_urls={"bitly": "http://bitly.test/v4"},
            credentials={"bitly": "scripted-token-0000"},
            transport=httpx.MockTransport(api.handle),
            overrides={"bitly": RateLimitSpec(concurrency=5, learn=False)},
            clock=FakeClock(), rng=Mid(), env={},
        ) as engine:  # fmt: skip
            assert engine.journal is None
            result = await engine.run(validate_workflow(REPORT, CATALOG), {})
            assert result.status == "failed" and api.sent[CAMPAIGN] == 5
            rows = engine.runlog.store.execute("SELECT count(*) FROM call_attempts").fetchone()
            assert rows[0] == 0

    asyncio.run(go())
