"""Duplicate-write safety: when may a failed write be sent again?

An idempotent action may always be retried. A non-idempotent one only when the request
provably did not take effect (`write_applied is False`: refused connection, throttle, a 503
that did nothing). Otherwise the engine asks the action's `reconcile` hook what happened
(e.g. read a shorten.dev custom slug back and compare the destination); without one it stops
with `OutcomeUnknown` rather than risk creating the same thing twice.
"""

from __future__ import annotations

import enum

from connector.errors import ActionError, OutcomeUnknown

__all__ = ["WriteDecision", "decide", "outcome_unknown"]


class WriteDecision(enum.Enum):
    RETRY = "retry"
    RECONCILE = "reconcile"
    STOP = "stop"


def decide(*, idempotent: bool, has_reconcile: bool, error: ActionError) -> WriteDecision:
    """What to do after a retryable error, as far as duplicate writes are concerned."""
    if idempotent or error.write_applied is False:
        return WriteDecision.RETRY
    return WriteDecision.RECONCILE if has_reconcile else WriteDecision.STOP


def outcome_unknown(action_id: str, error: ActionError, *, where: str | None) -> OutcomeUnknown:
    applied = "was applied" if error.write_applied else "may have been applied"
    exc = OutcomeUnknown(
        f"{action_id} is not idempotent and the request {applied} ({error.message}); "
        "it was not retried, to avoid a duplicate write, and the action has no way to check "
        "the outcome. Check the target before running this step again.",
        where=where,
        status=error.status,
        code=error.code,
        description=error.description,
        write_applied=error.write_applied,
    )
    return exc
