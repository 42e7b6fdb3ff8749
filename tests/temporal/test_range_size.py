"""How many items one activity runs: a fixed number when told, else 100 growing to 1,000
with the loop's length, every activity in flight still given 8 ranges."""

from __future__ import annotations

import pytest

from connector.temporal.messages import LONGEST_RANGE, SHORTEST_RANGE, Tuning


@pytest.mark.parametrize(
    ("total", "size"),
    [
        (1, SHORTEST_RANGE),
        (10_000, 157),  # 64 ranges: 8 for each of the 8 in flight
        (64_000, LONGEST_RANGE),
        (1_000_000, LONGEST_RANGE),  # 1,000 ranges: 3 executions of at most 400
    ],
)
def test_ranges_grow_with_the_loop(total: int, size: int) -> None:
    assert Tuning().range_for(total, stop_on_error=False) == size


def test_a_loop_that_stops_at_a_failure_keeps_short_ranges() -> None:
    assert Tuning().range_for(1_000_000, stop_on_error=True) == SHORTEST_RANGE


def test_a_size_given_is_kept() -> None:
    assert Tuning(items_per_activity=3).range_for(1_000_000, stop_on_error=False) == 3
    assert Tuning(items_per_activity=5000).range_for(10, stop_on_error=True) == 5000
