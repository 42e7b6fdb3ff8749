"""The wait before a retry, worked out once for every level that retries.

The engine retries a whole call (`attempts.py`); a composite action retries each of its own
requests (`request_tries.py`). Both wait the same: the policy's exponential backoff, never
shorter than the window the server named, and for a throttle never shorter than the shared
budget's pause (which knows when the declared window reopens). A wait past the run's
`max_wait` is not waited: the call fails as throttled. A wait of LONG_WAIT or more is
announced as it starts.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.engine.retry_policy import RandomSource, RetryPolicy
from connector.errors import ActionError, Throttled

__all__ = ["LONG_WAIT", "WaitNotice", "retry_wait", "too_long", "wait_reason"]

#: seconds from which a wait is announced as it starts (`on_wait`), never waited silently
LONG_WAIT = 30.0

#: told of a long wait as it starts: (seconds, why)
WaitNotice = Callable[[float, str], None]


def retry_wait(
    policy: RetryPolicy,
    failed: int,
    error: ActionError,
    rng: RandomSource,
    budget: object | None,
) -> float:
    """Seconds to wait after try number `failed` (1-based) of a request failed with `error`;
    `budget` is the app's rate budget (a RateBudget; anything else has no pause to offer)."""
    pause_for = getattr(budget, "pause_for", None)
    pause_left = getattr(budget, "pause_left", None)
    if pause_for is not None and pause_left is not None and isinstance(error, Throttled):
        # The shared budget knows how long the window stays closed (the API's Retry-After,
        # or when the declared window reopens): wait that, not the error table's worst-case
        # default.
        window = max(float(pause_for(error.retry_after)), float(pause_left()))
        return max(policy.backoff(failed, rng), window)
    return policy.wait_after(failed, error, rng)


def wait_reason(error: ActionError) -> str:
    """Why a wait is needed, in a few words: the error's kind, status and API code."""
    parts = [str(error.kind).replace("_", " ")]
    if error.status is not None:
        parts.append(f"HTTP {error.status}")
    if error.code:
        parts.append(str(error.code))
    if error.retry_after:
        parts.append(f"the server asked for {error.retry_after:,.0f} s")
    return ", ".join(parts)


def too_long(
    error: ActionError | None,
    wait: float,
    limit: float,
    reason: str,
    where: str | None,
    waiter: str = "a retry",
) -> Throttled:
    """The call's error when a wait is longer than it accepts (`max_wait`)."""
    return Throttled(
        f"{waiter} would wait {wait:,.0f} s ({reason}), longer than the {limit:g} s this run "
        "accepts (max_wait); stopped as throttled instead of waiting",
        where=where,
        status=error.status if error else None,
        code=error.code if error else None,
        retry_after=wait,
        write_applied=error.write_applied if error else False,
    )
