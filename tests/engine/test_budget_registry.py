"""BudgetRegistry keying: one budget per (app, credential, limits) per event loop.

A budget holds asyncio primitives, so it belongs to the loop that made it; and a session
that declares other limits must get a budget built with them, not the first one's.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

from connector.catalog import load_catalog
from connector.engine.rate_budget import BudgetRegistry, RateBudget, RateLimitSpec
from connector.engine.session import build_budgets, engine_session

TOKEN = "registry-token-5c2e9a1f"
FIVE = RateLimitSpec(concurrency=5, per_minute=100)
FIFTY = RateLimitSpec(concurrency=50)


def test_same_key_same_budget_and_each_part_of_the_key_counts() -> None:
    registry = BudgetRegistry()

    async def main() -> None:
        first = registry.get("bitly", TOKEN, FIVE)
        assert registry.get("bitly", TOKEN, RateLimitSpec(concurrency=5, per_minute=100)) is first
        others = [
            registry.get("bitly", TOKEN, FIFTY),  # other limits
            registry.get("bitly", TOKEN + "x", FIVE),  # other credential
            registry.get("shorten_dev", TOKEN, FIVE),  # other app
            registry.get("bitly", None, FIVE),  # no credential
        ]
        assert len({id(b) for b in [first, *others]}) == 5
        assert others[0].concurrency == 50 and first.concurrency == 5

    asyncio.run(main())


def test_each_event_loop_gets_its_own_budgets_and_a_finished_loop_keeps_none() -> None:
    registry = BudgetRegistry()
    refs: list[weakref.ref[RateBudget]] = []

    async def take() -> None:
        budget = registry.get("bitly", TOKEN, FIVE)
        refs.append(weakref.ref(budget))
        async with budget.slot():  # binds the semaphore to this loop
            pass

    asyncio.run(take())
    asyncio.run(take())
    gc.collect()
    # The second loop was not handed the first loop's budget (its semaphore belongs to a
    # closed loop), and the registry did not keep the finished loops' budgets alive.
    assert refs[0]() is None and refs[1]() is None


def test_a_budget_from_a_closed_loop_is_never_reused_in_a_new_one() -> None:
    registry = BudgetRegistry()
    seen: list[RateBudget] = []

    async def take() -> None:
        budget = registry.get("bitly", TOKEN, RateLimitSpec(concurrency=1))
        seen.append(budget)

        # Contend for the semaphore, so it is bound to this loop.
        async def hold() -> None:
            async with budget.slot():
                await asyncio.sleep(0)

        await asyncio.gather(hold(), hold())

    asyncio.run(take())
    asyncio.run(take())  # would raise "bound to a different event loop" if reused
    assert seen[0] is not seen[1]


def test_outside_a_loop_budgets_are_shared_too() -> None:
    registry = BudgetRegistry()
    assert registry.get("bitly", TOKEN, FIVE) is registry.get("bitly", TOKEN, FIVE)
    assert registry.get("bitly", TOKEN, FIVE) is not registry.get("bitly", TOKEN, FIFTY)


def test_the_registry_holds_no_credential() -> None:
    registry = BudgetRegistry()

    async def main() -> None:
        registry.get("bitly", TOKEN, FIVE)
        assert TOKEN not in repr(registry.__dict__)
        assert all(TOKEN not in repr(key) for budgets in registry._by_loop.values()
                   for key in budgets)  # fmt: skip

    asyncio.run(main())


def test_build_budgets_follows_overrides_and_fills_the_throttle_defaults() -> None:
    catalog = load_catalog()
    registry = BudgetRegistry()

    async def main() -> None:
        manifest = build_budgets(catalog, credentials={"bitly": TOKEN}, registry=registry)
        override = build_budgets(
            catalog, credentials={"bitly": TOKEN}, overrides={"bitly": FIFTY}, registry=registry
        )
        again = build_budgets(
            catalog, credentials={"bitly": TOKEN}, overrides={"bitly": FIFTY}, registry=registry
        )
        assert manifest["bitly"].concurrency == 5
        assert override["bitly"].concurrency == 50
        assert override["bitly"] is not manifest["bitly"]
        assert again["bitly"] is override["bitly"]
        # Bitly's error table names 60 s for a throttle with no Retry-After.
        assert 60.0 in override["bitly"].spec.throttle_defaults

    asyncio.run(main())


def test_a_later_session_with_other_limits_gets_its_own_budget(tmp_path: Path) -> None:
    catalog = load_catalog()
    credentials = {"bitly": TOKEN, "shorten_dev": TOKEN}

    async def main() -> None:
        async with engine_session(
            catalog, tmp_path / "a.db", credentials=credentials, overrides={"bitly": FIFTY}
        ) as first:
            fifty = first.budgets["bitly"]
        async with engine_session(
            catalog, tmp_path / "b.db", credentials=credentials, overrides={"bitly": FIFTY}
        ) as second:
            assert second.budgets["bitly"] is fifty  # same limits: shared process-wide
        async with engine_session(catalog, tmp_path / "c.db", credentials=credentials) as third:
            assert third.budgets["bitly"] is not fifty
            assert third.budgets["bitly"].concurrency == 5  # the manifest's
        assert fifty.concurrency == 50

    asyncio.run(main())
