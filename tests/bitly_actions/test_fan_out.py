"""A composite's fan-out (actions/bitly/fan_out.py): the first failure ends every sibling,
so nothing is sent after the call has failed and its attempt has been recorded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from connector import errors as E
from connector.apps.bitly.fan_out import bounded_map


def _ctx(concurrency: int) -> Any:
    return SimpleNamespace(client=SimpleNamespace(budget=SimpleNamespace(concurrency=concurrency)))


def test_the_first_failure_cancels_the_others_before_it_is_raised() -> None:
    sent: list[str] = []
    never = asyncio.Event()

    async def send(item: str) -> str:
        if item == "bad":
            await asyncio.sleep(0)
            raise E.NotFound("no such link")
        await never.wait()  # in flight (or queued) when "bad" fails
        sent.append(item)
        return item

    async def go() -> list[asyncio.Task[Any]]:
        with pytest.raises(E.NotFound, match="no such link"):
            await bounded_map(_ctx(2), send, ["slow", "bad", "queued", "queued2"])
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        never.set()
        await asyncio.sleep(0)
        return left

    assert asyncio.run(go()) == [] and sent == []


def test_results_come_in_item_order_at_most_width_at_once() -> None:
    running = peak = 0

    async def send(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (5 - item))
        running -= 1
        return item * 10

    assert asyncio.run(bounded_map(_ctx(3), send, range(5))) == [0, 10, 20, 30, 40]
    assert peak == 3
