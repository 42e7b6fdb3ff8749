"""One action call: attempts under the retry policy, with duplicate-write safety.

Every attempt is recorded (start, end, HTTP status, error, the wait that followed) so the
run log can show exactly what happened. Only retryable errors are retried; quota and fatal
errors end the call at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.clock import Clock
from connector.engine.protocols import RunnerLike
from connector.engine.rate_budget import RateBudget
from connector.engine.retry_policy import RandomSource, RetryPolicy
from connector.engine.writes import (
    WriteDecision,
    WriteSafety,
    decide,
    outcome_unknown,
    write_safety,
)
from connector.errors import ActionError, ConnectorError, Throttled
from connector.redact import redact

__all__ = ["CallOutcome", "call_action", "error_dict"]


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
    reconcile_first: bool = False,
) -> CallOutcome:
    """Run `action` with `inputs` until it succeeds or the policy says stop.

    With `reconcile_first` an earlier write of the same inputs may have landed: it is
    checked (read back) before anything is sent.
    """
    outcome = CallOutcome(unresolved=reconcile_first)
    safety: WriteSafety = write_safety(action)
    must_reconcile = reconcile_first
    attempt = 0
    # Write attempts and read-back checks each get the policy's attempts: a flaky read
    # must not use up the retries of the write it is protecting.
    writes = checks = 0
    while True:
        attempt += 1
        reconciling = must_reconcile
        writes += 0 if reconciling else 1
        checks += 1 if reconciling else 0
        record: dict[str, Any] = {"attempt": attempt, "started_at": clock.wall()}
        outcome.attempts.append(record)
        started = clock.now()
        try:
            if must_reconcile:
                record["call"] = "reconcile"
                found = await runner.reconcile(action.id, inputs)
                if found is not None:
                    _finish(record, clock, started, "reconciled")
                    outcome.output = found
                    outcome.unresolved = False
                    return outcome
                # The earlier write provably did not land: sending it again is safe.
                must_reconcile = False
                outcome.unresolved = False
                _finish(record, clock, started, "not_applied")
                continue
            output = await runner.run(action.id, inputs)
        except ActionError as exc:
            _finish(record, clock, started, "failed", exc)
            error: ActionError = exc
            if not reconciling and safety.guarded and exc.write_applied is not False:
                outcome.unresolved = True
            if exc.retryable and not must_reconcile:
                choice = decide(safety, exc)
                if choice is WriteDecision.STOP:
                    outcome.error = outcome_unknown(action.id, exc, where=where)
                    return outcome
                must_reconcile = choice is WriteDecision.RECONCILE
            if not policy.should_retry(checks if reconciling else writes, error):
                if must_reconcile and record.get("call") != "reconcile":
                    # Out of attempts, but the last write's fate is unknown: look it up once
                    # so a write that did land is reported as the success it was.
                    await _final_reconcile(outcome, action, runner, inputs, clock)
                if outcome.output is None:
                    outcome.error = error
                return outcome
            failed = checks if reconciling else writes
            if budget is not None and isinstance(error, Throttled):
                # The shared budget knows how long the window stays closed (the API's
                # Retry-After, or when the declared window reopens): wait that, not the
                # error table's worst-case default.
                window = max(budget.pause_for(error.retry_after), budget.pause_left())
                wait = max(policy.backoff(failed, rng), window)
            else:
                wait = policy.wait_after(failed, error, rng)
            record["wait"] = round(wait, 3)
            await clock.sleep(wait)
            continue
        except Exception as exc:  # InvalidInput from the runner, or a bug: never retried
            _finish(record, clock, started, "failed", exc)
            outcome.error = exc
            return outcome
        _finish(record, clock, started, "succeeded")
        outcome.output = output
        return outcome


async def _final_reconcile(
    outcome: CallOutcome, action: Any, runner: RunnerLike, inputs: dict[str, Any], clock: Clock
) -> None:
    record: dict[str, Any] = {
        "attempt": len(outcome.attempts) + 1,
        "call": "reconcile",
        "started_at": clock.wall(),
    }
    outcome.attempts.append(record)
    started = clock.now()
    try:
        found = await runner.reconcile(action.id, inputs)
    except Exception as exc:
        _finish(record, clock, started, "failed", exc)
        return
    _finish(record, clock, started, "reconciled" if found is not None else "not_applied")
    outcome.output = found
    outcome.unresolved = False


def _finish(
    record: dict[str, Any],
    clock: Clock,
    started: float,
    result: str,
    exc: BaseException | None = None,
) -> None:
    record["ended_at"] = clock.wall()
    record["duration_ms"] = round((clock.now() - started) * 1000, 1)
    record["result"] = result
    if exc is not None:
        record["status"] = getattr(exc, "status", None)
        record["error"] = error_dict(exc)
