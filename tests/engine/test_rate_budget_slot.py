"""The budget's slot: the concurrency place is given back whatever happens, counters and
the clean/throttled bookkeeping follow the request's outcome, and the admission stays
visible to `throttled()` after the slot has closed."""

from __future__ import annotations

import asyncio

import pytest

from connector.engine import rate_budget
from connector.engine.rate_budget import RateBudget, RateLimitSpec

from .conftest import SimClock


def test_counters_and_the_place_are_given_back_after_success_and_failure() -> None:
    budget = RateBudget(RateLimitSpec(concurrency=2), clock=SimClock())

    async def main() -> None:
        async with budget.slot():
            assert budget.in_flight == 1
        with pytest.raises(RuntimeError):
            async with budget.slot():
                raise RuntimeError("transport broke")
        assert budget.in_flight == 0 and budget.sent == 2
        assert budget._semaphore is not None and budget._semaphore._value == 2
        # Only the clean answer counted as clean.
        assert budget._clean == 1

    asyncio.run(main())


def test_a_cancelled_wait_for_pacing_gives_the_place_back() -> None:
    clock = SimClock()
    budget = RateBudget(RateLimitSpec(concurrency=1, per_second=1), clock=clock)

    async def main() -> None:
        async with budget.slot():
            pass
        waiting = asyncio.ensure_future(budget.slot().__aenter__())  # paced: must sleep
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert budget._semaphore is not None and budget._semaphore._value == 1
        assert budget.in_flight == 0 and budget.sent == 1

    asyncio.run(main())


def test_the_admission_is_readable_after_the_slot_closes() -> None:
    budget = RateBudget(RateLimitSpec(concurrency=5), clock=SimClock())

    async def main() -> None:
        async with budget.slot():
            pass
        admission = rate_budget._ADMISSION.get()
        assert admission is not None and admission.budget == id(budget)
        assert admission.clean  # a clean answer ...
        budget.throttled(None)  # ... that was a throttle after all: undone
        assert not admission.clean and admission.reported and budget._clean == 0

    asyncio.run(main())
