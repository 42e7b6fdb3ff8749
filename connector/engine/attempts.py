"""One action call: attempts under the retry policy, with duplicate-write safety.

Every attempt is recorded (start, end, HTTP status, error, the wait that followed) so the
run log can show exactly what happened. Only retryable errors are retried; quota and fatal
errors end the call at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.budget import PACING_WAITS, PacingWaits, WaitRefused
from connector.clock import Clock
from connector.engine.protocols import RunnerLike
from connector.engine.rate_budget import RateBudget
from connector.engine.request_tries import CALL_TRIES, RequestTries
from connector.engine.retry_policy import RandomSource, RetryPolicy
from connector.engine.retry_waits import LONG_WAIT, WaitNotice, retry_wait
from connector.engine.retry_waits import too_long as _too_long
from connector.engine.retry_waits import wait_reason as _reason
from connector.engine.writes import (
    WriteDecision,
    WriteSafety,
    decide,
    outcome_unknown,
    write_safety,
)
from connector.errors import ActionError, ConnectorError, TransportError
from connector.redact import redact

if TYPE_CHECKING:
    from connector.engine.attempt_journal import CallJournal

__all__ = ["LONG_WAIT", "CallOutcome", "WaitNotice", "call_action", "error_dict"]


def error_dict(exc: BaseException) -> dict[str, Any]:
    """A JSON-safe description of any error, for the run log."""
    if isinstance(exc, ConnectorError):
        return exc.to_dict()
    # A bug, not a planned error: keep the run log intact and say what it was.
    return {"kind": "internal", "type": type(exc).__name__, "message": redact(str(exc))}


@dataclass
class CallOutcome:
    output: Any = None
    error: BaseException | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: a write was sent, its answer lost, and no read-back settled it
    unresolved: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


async def call_action(
    *,
    action: Any,
    runner: RunnerLike,
    inputs: dict[str, Any],
    policy: RetryPolicy,
    clock: Clock,
    rng: RandomSource,
    where: str | None = None,
    budget: RateBudget | None = None,
    max_wait: float | None = None,
    on_wait: WaitNotice | None = None,
    reconcile_first: bool = False,
    journal: CallJournal | None = None,
    pace: Callable[[], Awaitable[None]] | None = None,
) -> CallOutcome:
    """Run `action` with `inputs` until it succeeds or the policy says stop.

    A wait longer than the policy's `max_wait` (or the run's `max_wait`, when tighter) is not
    waited: the call fails as throttled. A wait of LONG_WAIT or more is told to `on_wait`.
    With `reconcile_first` an earlier write of the same inputs may have landed: it is
    checked (read back) before anything is sent. With a `journal`, each attempt is
    journaled before it is sent, and a call an earlier execution began (a worker lost)
    continues its attempts and its wait (attempt_journal.py). `pace` (an endpoint bucket's
    pacing) is awaited before the first write leaves, its waits capped and announced like
    the rest. A handler that retries its own requests takes their tries from the call's
    `RequestTries` (request_tries.py): no request goes past `max_attempts` tries in the
    whole call, and once one has used them all the call is not retried.
    """
    outcome = CallOutcome(unresolved=reconcile_first)
    safety: WriteSafety = write_safety(action)
    limit = policy.wait_limit(max_wait)
    must_reconcile = reconcile_first
    attempt = 0
    # Write attempts and read-back checks each get the policy's attempts: a flaky read
    # must not use up the retries of the write it is protecting.
    writes = checks = 0
    tries = RequestTries(
        policy,
        clock=clock,
        rng=rng,
        budget=budget,
        max_wait=max_wait,
        on_wait=on_wait,
        journal=journal,
    )
    # A full window's wait inside the budget is announced and capped like a retry's wait.
    waits = PACING_WAITS.set(PacingWaits(limit, on_wait, LONG_WAIT))
    # The call's handler (and every task it starts) takes its requests' tries from here.
    current = CALL_TRIES.set(tries)
    try:
        earlier = journal.earlier() if journal is not None else []
        if earlier:
            cut_off = "result" not in earlier[-1]
            resumed = _resume(earlier, policy, clock, rng, where)
            # The handler's own requests go on from their tries too (request_tries.py).
            tries.resume(
                journal.requests() if journal is not None else {}, earlier[-1] if cut_off else None
            )
            outcome.attempts = earlier
            attempt, writes, checks = len(earlier), resumed.writes, resumed.checks
            if resumed.exhausted is not None:
                # The policy's attempts were all made before: none is added.
                if must_reconcile and earlier[-1].get("call") != "reconcile":
                    await _final_reconcile(outcome, action, runner, inputs, clock, tries)
                if outcome.output is None:
                    outcome.error = resumed.exhausted
                return outcome
            if resumed.wait > 0:
                await clock.sleep(resumed.wait)
        while True:
            if limit is not None and budget is not None and budget.pause_left() > limit:
                # The app's shared budget is paused (another call was throttled) for longer
                # than this run accepts: sending now would only wait inside the budget, unseen.
                paused = budget.pause_left()
                outcome.error = _too_long(
                    None, paused, limit, "the app's rate budget is paused", where
                )
                return outcome
            attempt += 1
            reconciling = must_reconcile
            writes += 0 if reconciling else 1
            checks += 1 if reconciling else 0
            record: dict[str, Any] = {"attempt": attempt, "started_at": clock.wall()}
            if must_reconcile:
                record["call"] = "reconcile"
            outcome.attempts.append(record)
            if journal is not None:
                journal.save(outcome.attempts)  # before it is sent: a lost one still counts
                tries.attempt = attempt  # journaled with the handler's own requests' tries
            started = clock.now()
            try:
                if must_reconcile:
                    found = await runner.reconcile(action.id, inputs)
                    if found is not None:
                        _finish(record, clock, started, "reconciled", tries=tries)
                        outcome.output = found
                        outcome.unresolved = False
                        return outcome
                    # The earlier write provably did not land: sending it again is safe.
                    must_reconcile = False
                    outcome.unresolved = False
                    _finish(record, clock, started, "not_applied", tries=tries)
                    continue
                if pace is not None:
                    await pace()
                    pace = None
                output = await runner.run(action.id, inputs)
            except ActionError as exc:
                _finish(record, clock, started, "failed", exc, tries)
                error: ActionError = exc
                if not reconciling and safety.guarded and exc.write_applied is not False:
                    outcome.unresolved = True
                if exc.retryable and not must_reconcile:
                    choice = decide(safety, exc)
                    if choice is WriteDecision.STOP:
                        outcome.error = outcome_unknown(action.id, exc, where=where)
                        return outcome
                    must_reconcile = choice is WriteDecision.RECONCILE
                # A request whose tries are spent inside the call: retrying the call would
                # only send it again.
                spent = tries.spent is not None
                if spent or not policy.should_retry(checks if reconciling else writes, error):
                    if must_reconcile and record.get("call") != "reconcile":
                        # Out of attempts, but the last write's fate is unknown: look it up once
                        # so a write that did land is reported as the success it was.
                        await _final_reconcile(outcome, action, runner, inputs, clock, tries)
                    if outcome.output is None:
                        outcome.error = error
                    return outcome
                failed = checks if reconciling else writes
                wait = retry_wait(policy, failed, error, rng, budget)
                if limit is not None and wait > limit:
                    record["refused_wait"] = round(wait, 3)
                    if must_reconcile and record.get("call") != "reconcile":
                        await _final_reconcile(outcome, action, runner, inputs, clock, tries)
                    if outcome.output is None:
                        outcome.error = _too_long(error, wait, limit, _reason(error), where)
                    return outcome
                record["wait"] = round(wait, 3)
                if journal is not None:
                    journal.save(outcome.attempts)  # the wait continues where it stood
                if on_wait is not None and wait >= LONG_WAIT:
                    on_wait(wait, _reason(error))
                await clock.sleep(wait)
                continue
            except WaitRefused as refused:
                # Nothing was sent: the budget would have waited longer than this run accepts.
                record["refused_wait"] = round(refused.seconds, 3)
                outcome.error = _too_long(
                    None, refused.seconds, limit or 0.0, refused.reason, where, "the rate budget"
                )
                _finish(record, clock, started, "failed", outcome.error, tries)
                return outcome
            except Exception as exc:  # InvalidInput from the runner, or a bug: never retried
                _finish(record, clock, started, "failed", exc, tries)
                outcome.error = exc
                return outcome
            _finish(record, clock, started, "succeeded", tries=tries)
            outcome.output = output
            return outcome

    finally:
        CALL_TRIES.reset(current)
        PACING_WAITS.reset(waits)


@dataclass
class _Resumed:
    """Where a call an earlier execution began stands."""

    writes: int
    checks: int
    #: seconds left of the wait before the next attempt
    wait: float
    #: no attempt is left: the call's error
    exhausted: ActionError | None


def _resume(
    earlier: list[dict[str, Any]],
    policy: RetryPolicy,
    clock: Clock,
    rng: RandomSource,
    where: str | None,
) -> _Resumed:
    """Count the journaled attempts; one with no result was cut off with its worker (its
    answer unknown: taken as a retryable failure, waited for by the policy's backoff)."""
    writes = sum(1 for record in earlier if record.get("call") != "reconcile")
    checks = len(earlier) - writes
    last = earlier[-1]
    if "result" in last:  # failed, and the wait before the next attempt was chosen
        since = last.get("ended_at", last.get("started_at", clock.wall()))
        left = float(last.get("wait") or 0.0) - (clock.wall() - since)
        return _Resumed(writes, checks, max(0.0, left), None)
    lost = TransportError(
        f"attempt {last.get('attempt')} was cut off when its worker stopped; its answer is unknown",
        where=where,
    )
    last["result"] = "lost"
    last["error"] = error_dict(lost)
    made = checks if last.get("call") == "reconcile" else writes
    if made >= policy.max_attempts:
        return _Resumed(writes, checks, 0.0, lost)
    wait = policy.backoff(made, rng)
    last["wait"] = round(wait, 3)
    left = wait - (clock.wall() - last.get("started_at", clock.wall()))
    return _Resumed(writes, checks, max(0.0, left), None)


async def _final_reconcile(
    outcome: CallOutcome,
    action: Any,
    runner: RunnerLike,
    inputs: dict[str, Any],
    clock: Clock,
    tries: RequestTries | None = None,
) -> None:
    record: dict[str, Any] = {
        "attempt": len(outcome.attempts) + 1,
        "call": "reconcile",
        "started_at": clock.wall(),
    }
    outcome.attempts.append(record)
    if tries is not None:
        tries.attempt = record["attempt"]
    started = clock.now()
    try:
        found = await runner.reconcile(action.id, inputs)
    except Exception as exc:
        _finish(record, clock, started, "failed", exc, tries)
        return
    result = "reconciled" if found is not None else "not_applied"
    _finish(record, clock, started, result, tries=tries)
    outcome.output = found
    outcome.unresolved = False


def _finish(
    record: dict[str, Any],
    clock: Clock,
    started: float,
    result: str,
    exc: BaseException | None = None,
    tries: RequestTries | None = None,
) -> None:
    record["ended_at"] = clock.wall()
    record["duration_ms"] = round((clock.now() - started) * 1000, 1)
    record["result"] = result
    if exc is not None:
        record["status"] = getattr(exc, "status", None)
        record["error"] = error_dict(exc)
    requests = tries.take_log() if tries is not None else None
    if requests:
        # A handler's own tries of its requests in this attempt (request_tries.py).
        record["requests"] = requests
