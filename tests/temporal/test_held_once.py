"""A worker holds a loop's items once: the rendered items take the place of the equal array
of the trigger they came from (rendering copies every list and mapping)."""

from __future__ import annotations

from typing import Any

from connector.catalog.templates import render
from connector.temporal.items import SHARED_FROM, held_once


def _rendered(over: str, trigger: Any) -> Any:
    return render(over, {"trigger": trigger, "steps": {}})


def test_the_items_replace_the_array_they_were_rendered_from() -> None:
    trigger = {"name": "x", "batch": {"links": [{"url": f"u{i}"} for i in range(SHARED_FROM)]}}
    items = _rendered("{{ trigger.batch.links }}", trigger)
    assert items is not trigger["batch"]["links"]  # a copy: two in memory
    same = held_once(trigger, items)
    assert same is trigger and trigger["batch"]["links"] is items  # one
    assert _rendered("{{ trigger.batch.links[3].url }}", same) == "u3"


def test_a_trigger_that_is_the_array_becomes_the_items() -> None:
    trigger = [str(i) for i in range(SHARED_FROM)]
    items = _rendered("{{ trigger }}", trigger)
    assert held_once(trigger, items) is items


def test_nothing_changes_without_an_equal_array() -> None:
    trigger = {"links": [str(i) for i in range(SHARED_FROM)]}
    reversed_items = _rendered("{{ trigger.links | reverse | list }}", trigger)
    original = trigger["links"]
    assert held_once(trigger, reversed_items) is trigger
    assert trigger["links"] is original
    short = {"links": ["a", "b"]}
    kept = short["links"]
    assert held_once(short, _rendered("{{ trigger.links }}", short))["links"] is kept
