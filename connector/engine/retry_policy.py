"""The retry policy as a value: how many attempts, and how long to wait between them.

Waits grow exponentially with proportional jitter, but never end before the window the
server named (Retry-After or a throttle window): a short fixed wait would only hit the same
closed window again. `max_wait` bounds that: a server asking for 48 minutes fails the item
as throttled rather than holding the run silently. Randomness is injected so tests can pin
the jitter.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any, Protocol

from connector.errors import ActionError, InvalidConfiguration

__all__ = ["MAX_ATTEMPTS", "MAX_WAIT_LIMIT", "RandomSource", "RetryPolicy"]

#: The hard ceiling the product promises: never more than 5 attempts of one call.
MAX_ATTEMPTS = 5
#: the largest `max_wait` (and delay) a policy takes, seconds: a day
MAX_WAIT_LIMIT = 86_400.0


class RandomSource(Protocol):
    def random(self) -> float:
        """A float in [0, 1)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and waits for one action call; `jitter` is a fraction of the wait (0..1)."""

    max_attempts: int = 3
    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.2
    #: the longest wait accepted before a retry; None: any (the server's window rules)
    max_wait: float | None = None

    def __post_init__(self) -> None:
        problems = []
        numbers = {
            "max_attempts": self.max_attempts,
            "initial_delay": self.initial_delay,
            "multiplier": self.multiplier,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
            "max_wait": 0.0 if self.max_wait is None else self.max_wait,
        }
        for name, value in numbers.items():
            # NaN passes every comparison below (each would become max_delay); inf and 1e300
            # are waits no run outlives.
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{name} must be a number, not {type(value).__name__}")
            elif not math.isfinite(value) or abs(value) > MAX_WAIT_LIMIT:
                problems.append(f"{name} must be a finite number up to {MAX_WAIT_LIMIT:g}")
        if problems:
            raise InvalidConfiguration("; ".join(problems), where="retry")
        if self.max_wait is not None and self.max_wait < 0:
            problems.append(f"max_wait must be >= 0, not {self.max_wait}")
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            problems.append(
                f"max_attempts must be between 1 and {MAX_ATTEMPTS}, not {self.max_attempts}"
            )
        if self.initial_delay < 0:
            problems.append(f"initial_delay must be >= 0, not {self.initial_delay}")
        if self.multiplier < 1:
            problems.append(f"multiplier must be >= 1, not {self.multiplier}")
        if self.max_delay < self.initial_delay:
            problems.append(
                f"max_delay ({self.max_delay}) must be >= initial_delay ({self.initial_delay})"
            )
        if not 0 <= self.jitter <= 1:
            problems.append(f"jitter must be between 0 and 1, not {self.jitter}")
        if problems:
            raise InvalidConfiguration("; ".join(problems), where="retry")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "retry") -> RetryPolicy:
        try:
            return cls(**(data or {}))
        except InvalidConfiguration as exc:
            raise InvalidConfiguration(exc.message, where=where) from None
        except TypeError as exc:  # an unknown key, from Python callers (the schema says so)
            raise InvalidConfiguration(str(exc), where=where) from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "max_attempts": self.max_attempts,
            "initial_delay": self.initial_delay,
            "multiplier": self.multiplier,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
        }
        if self.max_wait is not None:
            out["max_wait"] = self.max_wait
        return out

    def wait_limit(self, cap: float | None = None) -> float | None:
        """The longest wait accepted: `max_wait`, or a run-wide `cap` when tighter."""
        limits = [v for v in (self.max_wait, cap) if v is not None]
        return min(limits) if limits else None

    def tightened(self, override: dict[str, Any] | None, where: str = "retry") -> RetryPolicy:
        """This policy with a step's override applied; a step may lower, never raise, attempts."""
        if not override:
            return self
        attempts = override.get("max_attempts", self.max_attempts)
        if attempts > self.max_attempts:
            raise InvalidConfiguration(
                f"max_attempts {attempts} exceeds the workflow's {self.max_attempts}; "
                "a step may only tighten the workflow's retry policy",
                where=where,
            )
        try:
            return replace(self, **override)
        except InvalidConfiguration as exc:
            raise InvalidConfiguration(exc.message, where=where) from None

    def backoff(self, failed_attempt: int, rng: RandomSource) -> float:
        """The exponential wait after attempt number `failed_attempt` (1-based), jittered."""
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (failed_attempt - 1))
        spread = base * self.jitter * (2.0 * rng.random() - 1.0)
        return max(0.0, min(self.max_delay, base + spread))

    def wait_after(self, failed_attempt: int, error: ActionError, rng: RandomSource) -> float:
        """Seconds to wait before the next attempt: backoff, or the server's window if longer."""
        server = error.retry_after or 0.0
        return max(self.backoff(failed_attempt, rng), server)

    def should_retry(self, failed_attempt: int, error: BaseException) -> bool:
        """Only retryable errors, and only while attempts remain."""
        return bool(getattr(error, "retryable", False)) and failed_attempt < self.max_attempts


def default_rng(seed: int | None = None) -> random.Random:
    return random.Random(seed)
