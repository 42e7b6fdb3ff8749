"""A composite's request tries, journaled, taken up by a call run again (request_journal.py),
on a fake journal and clock: however many executions a call takes, a request is sent at most
`max_attempts` times; a wait refused past the run's max_wait stays refused while what is left
of it is still too long."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from connector.clock import FakeClock
from connector.engine.request_tries import RequestTries
from connector.engine.retry_policy import RetryPolicy
from connector.errors import ServerError, Throttled

POLICY = RetryPolicy(max_attempts=5, initial_delay=1.0, multiplier=2.0, jitter=0.0)


class Mid:
    def random(self) -> float:
        return 0.5


class FakeCalls:
    """A call's journal (attempt_journal.CallJournal's request side), in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def requests(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.rows)

    def save_request(self, digest: str, state: dict[str, Any]) -> None:
        self.rows[digest] = copy.deepcopy(state)


def _execution(calls: FakeCalls, clock: FakeClock, max_wait: float | None = None) -> RequestTries:
    """A call's execution: the first, or one taking up what the journal holds."""
    tries = RequestTries(POLICY, clock=clock, rng=Mid(), max_wait=max_wait, journal=calls)
    tries.resume(calls.requests(), None)
    return tries


def test_a_request_is_sent_at_most_max_attempts_times_over_many_lost_executions() -> None:
    calls, clock = FakeCalls(), FakeClock()
    sent = 0

    async def lost_on_second_send() -> str:
        nonlocal sent
        sent += 1
        if sent % 2 == 0:
            raise asyncio.CancelledError  # the worker is lost with this try in flight
        raise ServerError("boom", status=503)

    for _ in range(6):
        tries = _execution(calls, clock)
        with pytest.raises((asyncio.CancelledError, ServerError)):
            asyncio.run(tries.send("GET /a", lost_on_second_send, label="GET /a"))
    assert sent == 5, "5 tries in all, over every execution"
    (state,) = calls.rows.values()
    assert [t["try"] for t in state["tries"]] == [1, 2, 3, 4, 5]
    assert [t.get("result") for t in state["tries"]] == [
        "failed",
        "lost",
        "failed",
        "lost",
        "failed",
    ]


def test_a_refused_wait_stays_refused_while_what_is_left_is_too_long() -> None:
    calls, clock = FakeCalls(), FakeClock()
    sent = 0

    async def throttled() -> str:
        nonlocal sent
        sent += 1
        if sent == 1:
            raise Throttled("slow down", status=429, retry_after=100.0, write_applied=False)
        return "ok"

    first = _execution(calls, clock, max_wait=50)
    with pytest.raises(Throttled, match="longer than the 50 s"):
        asyncio.run(first.send("GET /a", throttled))
    clock.advance(30)  # 70 s of the 100 left: more than the run accepts
    again = _execution(calls, clock, max_wait=50)
    with pytest.raises(Throttled, match="would wait 70 s") as refused:
        asyncio.run(again.send("GET /a", throttled))
    assert refused.value.write_applied is False and sent == 1, "not sent again"
    clock.advance(30)  # 40 s left: waited, then sent
    clock.sleeps.clear()
    last = _execution(calls, clock, max_wait=50)
    assert asyncio.run(last.send("GET /a", throttled)) == "ok"
    assert (sent, clock.sleeps, last.tries("GET /a")) == (2, [40.0], 2)
