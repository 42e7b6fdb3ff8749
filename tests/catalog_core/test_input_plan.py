"""validate_inputs keeps one plan (input keys, checkers) per action object: another action,
even one equal in every field but its inputs, is never judged by a stale plan."""

from __future__ import annotations

import dataclasses

from connector.catalog import inputs as inputs_mod
from connector.catalog import load_catalog
from connector.catalog.inputs import validate_inputs


def test_each_action_object_gets_its_own_plan() -> None:
    action = load_catalog().get("bitly.get_link_click_metrics")
    values = {"bitlink": "bit.ly/abc", "unit": "day", "units": 7}
    prepared, problems = validate_inputs(action, values)
    assert problems == [] and prepared["units"] == 7
    assert inputs_mod._PLANS[id(action)].action is action

    # The same action without its `units` input: `units` is now unknown, and named so.
    fewer = dataclasses.replace(action, inputs=tuple(s for s in action.inputs if s.key != "units"))
    _, problems = validate_inputs(fewer, values)
    assert [p.field for p in problems] == ["units"]
    assert "unknown input" in problems[0].message
    # The first action's plan is untouched.
    assert validate_inputs(action, values)[1] == []


def test_a_recycled_id_is_noticed() -> None:
    action = load_catalog().get("bitly.get_link_click_metrics")
    other = dataclasses.replace(action, inputs=action.inputs[:1])
    inputs_mod._PLANS[id(other)] = inputs_mod._Plan(action)  # as if `other` reused an id
    _, problems = validate_inputs(other, {"bitlink": "bit.ly/abc", "unit": "day"})
    assert [p.field for p in problems] == ["unit"]
    assert inputs_mod._PLANS[id(other)].action is other
