"""The retry policy as a value: how many attempts, and how long to wait between them.

Waits grow exponentially with proportional jitter, but never end before the window the
server named (Retry-After or a throttle window): a short fixed wait would only hit the same
closed window again. `max_wait` bounds that: a server asking for 48 minutes fails the item
as throttled rather than holding the run silently. Randomness is injected so tests can pin
the jitter.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Annotated, Any, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    create_model,
    model_validator,
)

from connector.catalog.models import optional_fields
from connector.errors import ActionError, InvalidConfiguration

__all__ = ["MAX_ATTEMPTS", "MAX_WAIT_LIMIT", "RandomSource", "RetryPolicy", "RetrySettings"]

#: The hard ceiling the product promises: never more than 5 attempts of one call.
MAX_ATTEMPTS = 5
#: the largest `max_wait` (and delay) a policy takes, seconds: a day
MAX_WAIT_LIMIT = 86_400.0


class RandomSource(Protocol):
    def random(self) -> float:
        """A float in [0, 1)."""


class RetryPolicy(BaseModel):
    """Retry policy for retryable errors: exponential waits with jitter, never shorter than
    the server's window. `jitter` is a fraction of the wait (0..1).

    The one definition of a workflow's `retry` block (and of a step's override, which gives
    only the keys it changes: `RetrySettings`, derived from this model)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # NaN passes every comparison (each wait would become max_delay); inf is no wait
        allow_inf_nan=False,
        title="Retry policy",
        json_schema_extra={
            "examples": [
                {
                    "max_attempts": 5,
                    "initial_delay": 1,
                    "multiplier": 2,
                    "max_delay": 30,
                    "jitter": 0.2,
                }
            ]
        },
    )

    max_attempts: Annotated[int, Strict(), Field(ge=1, le=MAX_ATTEMPTS)] = Field(
        default=3, description=f"Attempts of one call, the first included (at most {MAX_ATTEMPTS})."
    )
    initial_delay: Annotated[float, Strict(), Field(ge=0, le=3600)] = Field(
        default=1.0, description="Seconds before the second attempt."
    )
    multiplier: Annotated[float, Strict(), Field(ge=1, le=10)] = Field(
        default=2.0, description="Each wait is this many times the previous one."
    )
    max_delay: Annotated[float, Strict(), Field(ge=0, le=3600)] = Field(
        default=30.0, description="Longest wait between attempts, in seconds."
    )
    jitter: Annotated[float, Strict(), Field(ge=0, le=1)] = Field(
        default=0.2, description="Random spread of each wait, as a fraction of it."
    )
    max_wait: Annotated[float, Strict(), Field(ge=0, le=MAX_WAIT_LIMIT)] | None = Field(
        default=None,
        description="The longest wait, in seconds, accepted before a retry (a server's "
        "Retry-After included); a longer one fails the item as throttled instead of waiting.",
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise InvalidConfiguration(_problems(exc), where="retry") from None

    @model_validator(mode="after")
    def _delays_in_order(self) -> RetryPolicy:
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"max_delay ({self.max_delay}) must be >= initial_delay ({self.initial_delay})"
            )
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "retry") -> RetryPolicy:
        try:
            return cls(**(data or {}))
        except InvalidConfiguration as exc:
            raise InvalidConfiguration(exc.message, where=where) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def wait_limit(self, cap: float | None = None) -> float | None:
        """The longest wait accepted: `max_wait`, or a run-wide `cap` when tighter."""
        limits = [v for v in (self.max_wait, cap) if v is not None]
        return min(limits) if limits else None

    def tightened(self, override: Mapping[str, Any] | None, where: str = "retry") -> RetryPolicy:
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
        return self.from_dict({**self.model_dump(), **override}, where=where)

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


def _problems(error: ValidationError) -> str:
    """`max_attempts must be between 1 and 5, not 6`: one clause per bad value."""
    out = []
    for item in error.errors(include_url=False):
        name = ".".join(str(p) for p in item["loc"]) or "retry"
        info = RetryPolicy.model_fields.get(name)
        low = high = None
        for rule in info.metadata if info else ():
            low = getattr(rule, "ge", None) if getattr(rule, "ge", None) is not None else low
            high = getattr(rule, "le", None) if getattr(rule, "le", None) is not None else high
        value = item.get("input")
        absurd = isinstance(value, int | float) and abs(value) > MAX_WAIT_LIMIT
        if item["type"] == "finite_number" or (absurd and name != "max_attempts"):
            out.append(f"{name} must be a finite number up to {MAX_WAIT_LIMIT:g}")
        elif item["type"] in ("greater_than_equal", "less_than_equal") and low is not None:
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            out.append(f"{name} must be {bounds}, not {item['input']}")
        elif item["type"] == "value_error":
            out.append(str((item.get("ctx") or {}).get("error", item["msg"])))
        else:
            out.append(f"{name}: {item['msg']}")
    return "; ".join(out)


#: A step's `retry` override, and the workflow's `retry` block as written: the keys of
#: RetryPolicy, each optional (what is left out comes from the workflow, or the defaults).
RetrySettings: type[BaseModel] = create_model(
    "RetrySettings",
    __config__=ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        title="Retry settings",
        json_schema_extra={"examples": [{"max_attempts": 2}, {"initial_delay": 0.5}]},
    ),
    __doc__=RetryPolicy.__doc__,
    **optional_fields(RetryPolicy),
)
