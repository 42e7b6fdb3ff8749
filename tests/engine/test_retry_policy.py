from __future__ import annotations

import pytest

from connector.engine.retry_policy import RetryPolicy
from connector.errors import InvalidConfiguration, ServerError, Throttled


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(max_attempts=5, initial_delay=1, multiplier=2, max_delay=5, jitter=0.2)
    mid = Fixed(0.5)  # jitter term is zero at the middle
    assert [policy.backoff(n, mid) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(initial_delay=10, max_delay=100, jitter=0.2)
    assert policy.backoff(1, Fixed(0.0)) == pytest.approx(8.0)
    assert policy.backoff(1, Fixed(0.999999)) == pytest.approx(12.0, rel=1e-4)


def test_server_window_wins_when_longer() -> None:
    policy = RetryPolicy(initial_delay=1, jitter=0)
    throttle = Throttled("slow down", retry_after=42.0)
    assert policy.wait_after(1, throttle, Fixed(0.5)) == 42.0
    assert policy.wait_after(1, ServerError("boom", retry_after=0.1), Fixed(0.5)) == 1.0


def test_six_attempts_rejected_and_override_may_only_tighten() -> None:
    with pytest.raises(InvalidConfiguration, match="between 1 and 5"):
        RetryPolicy(max_attempts=6)
    base = RetryPolicy(max_attempts=3)
    assert base.tightened({"max_attempts": 2}).max_attempts == 2
    with pytest.raises(InvalidConfiguration, match="may only tighten"):
        base.tightened({"max_attempts": 4})


def test_should_retry_only_retryable_and_within_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(1, ServerError("x"))
    assert not policy.should_retry(3, ServerError("x"))
    from connector.errors import QuotaExhausted

    assert not policy.should_retry(1, QuotaExhausted("monthly"))
