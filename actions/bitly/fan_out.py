"""Running one coroutine per item, as many at once as the app's shared budget lets through.

Under the engine the budget holds the app's concurrency (Bitly: 5), and every request waits for
its slot there anyway; bounding the tasks too keeps a list of thousands from queueing thousands
of waiting tasks. With no shared budget (a plain runner, a cassette recording) the items go one
at a time, so what is sent, and recorded, comes in input order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from connector.runner import HandlerContext

__all__ = ["bounded_map", "width"]

T = TypeVar("T")


def width(ctx: HandlerContext) -> int:
    concurrency = getattr(ctx.client.budget, "concurrency", None)
    return concurrency if isinstance(concurrency, int) and concurrency > 0 else 1


async def bounded_map(
    ctx: HandlerContext, func: Callable[[Any], Awaitable[T]], items: Iterable[Any]
) -> list[T]:
    """`func(item)` for each item, results in item order. The first failure is raised once
    the others are cancelled: none sends anything after the call has failed, when the
    engine has recorded the attempt and its tries (and may be reading a write back)."""
    gate = asyncio.Semaphore(width(ctx))

    async def one(item: Any) -> T:
        async with gate:
            return await func(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
