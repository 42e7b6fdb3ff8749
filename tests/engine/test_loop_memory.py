"""Loops in constant memory: a loop's item outputs live in the run log, later steps read
them back a page at a time, and the engine's peak memory does not grow with the item count.

Measured with tracemalloc (Python's allocations only, so other processes on the machine do
not disturb it): the same workflow at 2,000 and at 20,000 items, on SQLite and PostgreSQL.
Holding each item's output (~0.6 KB here) would add over 10 MB at 20,000 items; the bound
allows 150 bytes an item.
"""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.loop_items import LoopItems
from connector.engine.runlog import RunLog
from connector.engine.workflow import validate_workflow

from .conftest import ACTIONS, FakeCatalog, SimClock

PAD = "x" * 400


class QuietRunner:
    """Echoes its inputs with some padding, and records nothing (FakeRunner keeps every
    call, which would itself grow with the items)."""

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return {"key": inputs["key"], "n": inputs.get("n", 0), "pad": PAD}

    async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return None


def _workflow(catalog: FakeCatalog) -> Any:
    return validate_workflow(
        {
            "name": "memory",
            "steps": [
                {
                    "id": "each",
                    "loop": {"over": "{{ trigger.keys }}", "batch_size": 20},
                    "action": "fake.get",
                    "inputs": {"key": "{{ item }}", "n": "{{ index }}"},
                },
                {
                    "id": "total",
                    "aggregate": {
                        "over": "<<steps.each.output.items>>",
                        "fields": {"sum": {"sum": "n"}, "count": {"count": True}},
                    },
                },
            ],
            "output": {
                "total": "<<steps.total.output>>",
                "items": "<<steps.each.output.items>>",
                "last": "<<steps.each.output.items[-1].key>>",
            },
        },
        catalog,
    )


def _run(target: Path | str, n: int) -> tuple[int, Any]:
    """Run the workflow over `n` items; (peak traced bytes during the run, its output)."""
    catalog = FakeCatalog(ACTIONS, concurrency=20)
    workflow = _workflow(catalog)
    keys = [f"k{i}" for i in range(n)]  # the trigger exists before the run: not counted
    clock = SimClock()
    with RunLog(target) as log:
        engine = Engine(catalog, QuietRunner(), log, clock=clock, rng=random.Random(1))  # type: ignore[arg-type]
        tracemalloc.start()
        try:
            result = clock.run(engine.run(workflow, {"keys": keys}))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.ok, result.error
        output = result.output
        assert output["total"] == {"sum": n * (n - 1) // 2, "count": n}
        assert output["last"] == f"k{n - 1}"
        items = output["items"]
        assert isinstance(items, LoopItems) and len(items) == n
        assert items[n // 2] == {"key": f"k{n // 2}", "n": n // 2, "pad": PAD}
        stored = log.get_run(result.run_id).output
        assert stored["total"] == output["total"] and len(stored["items"]) == n
    return peak, output


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_item_count(runlog_target: Path | str) -> None:
    small, _ = _run(runlog_target, 2_000)
    large, _ = _run(runlog_target, 20_000)
    per_item = (large - small) / 18_000
    # The trigger's keys are the caller's; what grows per item is the loop's one status
    # byte and the trigger's JSON text written once (~10 bytes an item): far below an
    # output's ~600 bytes.
    assert per_item < 150, f"{per_item:.0f} bytes more per item ({small:,} -> {large:,} bytes)"
    assert large / small < 1.6, f"peak {small:,} -> {large:,} bytes"
