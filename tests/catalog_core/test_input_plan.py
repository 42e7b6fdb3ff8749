"""Input checking is compiled once per action and kept on the action: the plan (input keys,
each input's checker) and the checkers' plain tests, which must give the verdicts of the
input's JSON Schema (what builders are given) on every value."""

from __future__ import annotations

from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.catalog.inputs import Checker, input_plan, validate_inputs
from connector.catalog.models import InputSpec, Option


def _spec(**kw: Any) -> InputSpec:
    base: dict[str, Any] = {"key": "n", "label": "N", "type": "integer"}
    return InputSpec(**{**base, **kw})


def _reference(checker: Checker, value: Any) -> str | None:
    error = next(iter(checker.validator.iter_errors(value)), None)
    if error is None:
        return None
    return error.message if len(error.message) <= 120 else error.message[:117] + "..."


def test_the_plan_is_built_once_and_kept_on_the_action() -> None:
    action = load_catalog().get("bitly.get_link_click_metrics")
    values = {"bitlink": "bit.ly/abc", "unit": "day", "units": 7}
    prepared, problems = validate_inputs(action, values)
    assert problems == [] and prepared["units"] == 7
    assert input_plan(action) is input_plan(action)

    # A copy without its `units` input has its own plan: `units` is unknown there.
    fewer = action.model_copy(
        update={"inputs": tuple(s for s in action.inputs if s.key != "units")}
    )
    _, problems = validate_inputs(fewer, values)
    assert [p.field for p in problems] == ["units"]
    assert "unknown input" in problems[0].message
    assert validate_inputs(action, values)[1] == []
    assert input_plan(fewer) is not input_plan(action)


def test_running_catalog_compiles_every_plan_at_load() -> None:
    catalog = load_catalog()
    for action in catalog.actions.values():
        assert "inputs" in action.compiled, action.id


VALUES: list[Any] = [
    "", "bit.ly/abc", "not a date", "2026-01-01T00:00:00Z", "x" * 300, "day", "DAY", 0, 1, -1,
    7, 1000, 1001, 10**20, 1.0, 1.5, float("nan"), True, False, None, [], {}, ["a"], ["a", "a"],
    ["day", "week"], [1, True], {"a": 1}, "spring,newsletter", ["x" * 60],
]  # fmt: skip


def test_compiled_checkers_agree_with_the_json_schema_on_every_catalog_input() -> None:
    compiled = 0
    for action in load_catalog().actions.values():
        for spec, checker in input_plan(action).checks:
            compiled += checker._tests is not None
            for value in VALUES:
                assert checker.problem(value) == _reference(checker, value), (
                    action.id,
                    spec.key,
                    value,
                )
    assert compiled >= 20  # the plain tests are actually used for the catalog's inputs


CASES: list[tuple[dict[str, Any], list[Any]]] = [
    ({"min": 1, "max": 10}, [0, 1, 5, 10, 11, 1.0, 10.5, True, "5"]),
    ({"type": "string", "pattern": "^[a-z]+$", "max": 3}, ["abc", "ABC", "abcd", "", 3]),
    ({"type": "text", "min": 2}, ["", "a", "ab", "é", "éé"]),
    ({"type": "array", "items": {"type": "integer"}, "max": 2}, [[1, 2], [1, "x"], [1, 2, 3]]),
    ({"type": "array", "items": {"type": "string", "maxLength": 3}}, [["abc"], ["abcd"], []]),
    ({"type": "array", "items": {"anyOf": [{"type": "string"}]}}, [["a"], [1]]),
    ({"type": "boolean"}, [True, False, 1, 0, "true"]),
    ({"type": "url"}, ["http://x", "ftp://x", 1]),
    (
        {
            "type": "options",
            "options": [Option(label="one", value=1), Option(label="s", value="1")],
        },
        [1, 1.0, True, "1", "2", None],
    ),
    (
        {"type": "multi-select", "options": [Option(label="a", value="a")], "max": 1},
        [["a"], ["a", "a"], ["b"], [], "a"],
    ),
]


@pytest.mark.parametrize(("kw", "values"), CASES)
def test_verdicts_and_messages_are_the_schema_s(kw: dict[str, Any], values: list[Any]) -> None:
    checker = Checker(_spec(**kw))
    for value in values:
        assert checker.problem(value) == _reference(checker, value), value
    # and again, in the other order: nothing is remembered between values
    for value in reversed(values):
        assert checker.problem(value) == _reference(checker, value), value


def test_messages_name_the_bound() -> None:
    checker = Checker(_spec(min=1, max=10))
    assert checker.problem(11) == "11 is greater than the maximum of 10"
    assert checker.problem(0) == "0 is less than the minimum of 1"
    assert checker.problem(5) is None


def test_a_schema_with_an_unknown_keyword_is_checked_in_full() -> None:
    checker = Checker(_spec(type="array", items={"type": "integer", "multipleOf": 2}))
    assert checker._tests is None
    assert checker.problem([2, 4]) is None
    assert checker.problem([3]) == "3 is not a multiple of 2"
