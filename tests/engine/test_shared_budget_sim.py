"""Three workers on one token share one budget: on simulated time, against the sandbox's
own window logic, they send exactly what the windows allow, as early as they allow it, and
are never throttled (issue 12, point 4). The budgets share their counts in PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest

from .shared_sim import run_workers_against_sandbox

WALL0 = 1_767_225_600.0  # SimClock's wall time at t=0: a minute and an hour boundary


def _per_window(times: list[float], period: float) -> Counter[int]:
    return Counter(int(t // period) for t in times)


@pytest.mark.parametrize("offset", [0.0, 30.0])
def test_three_workers_fill_each_minute_and_never_exceed_it(
    pg_server: object, offset: float
) -> None:
    database = pg_server.database_url()  # type: ignore[attr-defined]
    run = run_workers_against_sandbox(database, 350, start=offset)
    assert run.ok
    assert run.throttled == 0
    assert len(run.sends) == 350
    minutes = _per_window(run.sends, 60.0)
    assert max(minutes.values()) == 100
    # every minute but the last holds the whole allowance
    assert sorted(minutes.values())[1:] == [100] * (len(minutes) - 1)
    assert run.duration <= 1.05 * run.ideal_duration + 1.0, (run.duration, run.ideal_duration)


def test_the_control_three_workers_with_their_own_budgets_are_throttled() -> None:
    # What the shared budget prevents: each worker counts only its own sends, so together
    # they ask for more than the minute holds and are refused (then each pauses).
    run = run_workers_against_sandbox("process", 350, start=30.0)
    assert run.throttled > 0
