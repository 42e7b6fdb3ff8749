"""What templates and later steps can do with a loop's items, read from the run log: index,
slice, count, iterate, loop over them again, aggregate them; and where a list in memory
would be built past the bound, a one-line error that says what to do instead."""

from __future__ import annotations

from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.catalog.templates import render
from connector.engine.executor import Engine
from connector.engine.loop_items import LoopItems
from connector.engine.workflow import validate_workflow
from connector.errors import InvalidInput, TemplateError
from connector.lazy_array import LazyArray

from .conftest import FakeCatalog, SimClock


class Numbers(LazyArray):
    """A lazy array of 0..n-1 that counts the pages read."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reads: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return self.n

    def page(self, start: int, stop: int) -> list[Any]:
        self.reads.append((start, stop))
        return [{"n": i} for i in range(start, stop)]


@pytest.fixture
def bound(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("connector.lazy_array.MAX_MATERIALISED", 50)
    return 50


def _ctx(items: LazyArray) -> dict[str, Any]:
    return {"steps": {"each": {"output": {"items": items}}}}


def test_reading_a_lazy_array_in_templates(bound: int) -> None:
    items = Numbers(5_000)
    ctx = _ctx(items)
    assert render("<<steps.each.output.items | length>>", ctx) == 5_000
    assert render("<<steps.each.output.items[4321].n>>", ctx) == 4321
    assert render("<<steps.each.output.items[-1].n>>", ctx) == 4_999
    assert render("<<steps.each.output.items[10:13]>>", ctx) == [{"n": 10}, {"n": 11}, {"n": 12}]
    assert render("<<steps.each.output.items | sum(attribute='n')>>", ctx) == 4_999 * 5_000 // 2
    assert render("<<steps.each.output.items>>", ctx) is items  # passed on, not read
    assert max(stop - start for start, stop in items.reads) <= 1_000  # read a page at a time


@pytest.mark.parametrize(
    "template",
    [
        "<<steps.each.output.items | list>>",
        "<<steps.each.output.items | sort(attribute='n')>>",
        "<<steps.each.output.items[0:51]>>",
    ],
)
def test_a_list_past_the_bound_is_refused_with_what_to_do(bound: int, template: str) -> None:
    with pytest.raises(TemplateError, match=r"holds 5\d items, more than the 50 .* aggregate"):
        render(template, _ctx(Numbers(51 if "0:51" not in template else 60)), where="output")
    assert render(template, _ctx(Numbers(50))) == [{"n": i} for i in range(50)]


def test_an_action_input_gets_a_list_within_the_bound(bound: int) -> None:
    catalog = load_catalog()
    tags = "<<steps.each.output.items>>"
    inputs = {"bitlink": "bit.ly/abc", "tags": tags}
    small = _ctx(_Tags(3))
    assert catalog.prepare_inputs("bitly.update_bitlink", inputs, small)["tags"] == [
        "t0", "t1", "t2",
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match="holds 51 items, more than the 50") as err:
        catalog.prepare_inputs("bitly.update_bitlink", inputs, _ctx(_Tags(51)))
    assert err.value.where == "bitly.update_bitlink: input 'tags'"


class _Tags(Numbers):
    def page(self, start: int, stop: int) -> list[Any]:
        return [f"t{i}" for i in range(start, stop)]


def test_a_later_loop_and_an_aggregate_read_the_items_back(
    engine: Engine, catalog: FakeCatalog, clock: SimClock
) -> None:
    doc = {
        "name": "chain",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.keys }}", "batch_size": 3},
                "action": "fake.get",
                "inputs": {"key": "{{ item }}", "n": "{{ index }}"},
            },
            {
                "id": "again",
                "loop": {"over": "<<steps.each.output.items>>", "batch_size": 2},
                "action": "fake.get",
                "inputs": {"key": "again-{{ item.echo.key }}", "n": "{{ item.echo.n * 10 }}"},
            },
            {
                "id": "total",
                "aggregate": {
                    "over": "<<steps.again.output.items>>",
                    "fields": {
                        "sum": {"sum": "echo.n"},
                        "count": {"count": True},
                        "top": {"top": "echo.n", "label": "echo.key", "limit": 2},
                    },
                },
            },
        ],
    }
    keys = [f"k{i}" for i in range(2_345)]
    result = clock.run(engine.run(validate_workflow(doc, catalog), {"keys": keys}))
    assert result.ok, result.error
    assert result.output == {
        "sum": 10 * 2_344 * 2_345 // 2,
        "count": 2_345,
        "top": [{"echo.key": "again-k2344", "echo.n": 23_440},
                {"echo.key": "again-k2343", "echo.n": 23_430}],
    }  # fmt: skip
    again = engine.runlog.steps(result.run_id)[1].output["items"]
    assert isinstance(again, LoopItems) and again[1_001] == {
        "echo": {"key": "again-k1001", "n": 10_010}
    }
