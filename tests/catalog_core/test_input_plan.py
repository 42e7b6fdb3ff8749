"""validate_inputs keeps one plan (input keys, checkers) per action object: another action,
even one equal in every field but its inputs, is never judged by a stale plan."""

from __future__ import annotations

import dataclasses
from typing import Any

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


def _jsonschema_verdict(checker: Any, value: Any) -> str | None:
    error = next(iter(checker.validator.iter_errors(value)), None)
    return None if error is None else error.message[:120]


VALUES: list[Any] = [
    "", "bit.ly/abc", "not a date", "2026-01-01T00:00:00Z", "x" * 300, 0, 1, -1, 10**20,
    1.5, float("nan"), True, False, None, [], {}, ["a"], {"a": 1},
]  # fmt: skip


def test_type_only_inputs_skip_validation_with_the_same_verdicts() -> None:
    proven = 0
    for action in load_catalog().actions.values():
        for spec in action.inputs:
            checker = inputs_mod._checker(spec)
            proven += bool(checker.proven)
            for value in VALUES:
                expected = _jsonschema_verdict(checker, value)
                got = checker.problem(value)
                assert (got is None) == (expected is None), (action.id, spec.key, value)
    assert proven >= 10  # the shortcut is actually taken for the catalog's plain inputs


def test_only_schemas_asserting_nothing_but_a_scalar_type_are_proven() -> None:
    proof = inputs_mod._proven_types
    assert proof({"type": "string", "title": "T", "x-format": "bitlink"}) == {str}
    assert proof({"type": "string", "format": "date-time"}) == {str}
    assert proof({"type": "integer"}) == {int}  # True is a bool: validated in full
    assert proof({"type": "number", "default": 1}) == {int, float}
    assert proof({"type": "string", "maxLength": 3}) == frozenset()
    assert proof({"type": "string", "pattern": "^a"}) == frozenset()
    assert proof({"type": "integer", "minimum": 1}) == frozenset()
    assert proof({"type": "array"}) == frozenset()
    assert proof({"type": ["string", "integer"], "enum": [1, "a"]}) == frozenset()
