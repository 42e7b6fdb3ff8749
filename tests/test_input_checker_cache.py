"""The input validation caches (connector/catalog/inputs.py): one compiled JSON Schema per
input spec, and its verdicts on scalar values.

A cached verdict must always be the verdict the schema gives: per input, per type (1, 1.0,
True and "1" are different values to JSON Schema), after another input's failure, after the
cache is cleared, and for a new spec that reuses a dead one's id(). And the caches stay
bounded, in entries and in the size of what they keep.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from connector.catalog import inputs as inputs_mod
from connector.catalog import load_catalog
from connector.catalog.inputs import validate_inputs
from connector.catalog.models import InputSpec, Option


def _spec(**kw: Any) -> InputSpec:
    base: dict[str, Any] = {"key": "n", "label": "N", "type": "integer"}
    return InputSpec(**{**base, **kw})


def _problem(spec: InputSpec, value: Any) -> str | None:
    return inputs_mod._schema_problem(spec, value)


def _checker(spec: InputSpec) -> Any:
    return inputs_mod._CHECKERS[id(spec)]


def test_repeated_values_keep_their_verdicts() -> None:
    spec = _spec(min=1, max=10)
    for _ in range(3):
        assert _problem(spec, 5) is None
        assert _problem(spec, 11) == "11 is greater than the maximum of 10"
        assert _problem(spec, 0) == "0 is less than the minimum of 1"


def test_a_value_that_failed_for_one_input_still_passes_for_another() -> None:
    narrow = _spec(key="narrow", max=3)
    wide = _spec(key="wide", max=100)
    assert _problem(narrow, 50) is not None
    assert _problem(wide, 50) is None
    assert _problem(narrow, 50) is not None
    # and the other way round
    assert _problem(wide, 500) is not None
    assert _problem(narrow, 2) is None and _problem(wide, 2) is None


def test_equal_values_of_different_types_are_judged_apart() -> None:
    integer = _spec()
    # 1 == 1.0 == True in Python (same hash); JSON Schema says an integer input takes 1 and
    # 1.0 but not true. Order matters for a cache keyed on the value alone: try both.
    assert _problem(integer, 1) is None
    assert _problem(integer, True) is not None
    assert _problem(integer, 1.0) is None
    boolean = _spec(key="b", type="boolean")
    assert _problem(boolean, True) is None
    assert _problem(boolean, 1) is not None
    options = _spec(
        key="o", type="options", options=(Option("one", 1), Option("yes", True), Option("s", "1"))
    )
    assert [_problem(options, v) for v in (True, 1, "1")] == [None, None, None]
    two = _spec(key="t", type="options", options=(Option("one", 1),))
    assert _problem(two, 1) is None
    assert _problem(two, True) is not None
    assert _problem(two, "1") is not None


def test_strings_with_a_pattern_after_a_failure() -> None:
    spec = _spec(key="s", type="string", pattern="^[a-z]+$", max=8)
    assert _problem(spec, "abc") is None
    assert _problem(spec, "ABC") is not None
    assert _problem(spec, "abcdefghij") is not None  # too long
    assert _problem(spec, "abc") is None


def test_non_scalar_values_are_judged_every_time() -> None:
    spec = _spec(key="a", type="array", items={"type": "integer"}, max=2)
    assert _problem(spec, [1, 2]) is None
    assert _problem(spec, [1, "x"]) is not None
    assert _problem(spec, [1, 2, 3]) is not None
    assert _problem(spec, [1, 2]) is None
    assert all(not isinstance(key[1], list) for key in _checker(spec).verdicts)


def test_verdicts_are_bounded_and_right_after_the_cache_is_cleared() -> None:
    spec = _spec(min=0, max=2_000)
    limit = inputs_mod._CACHE_SIZE
    for value in range(limit + 500):
        expected = None if value <= 2_000 else f"{value} is greater than the maximum of 2000"
        assert _problem(spec, value) == expected
    assert len(_checker(spec).verdicts) <= limit
    assert _problem(spec, 5) is None and _problem(spec, 4_000) is not None


def test_large_values_are_not_kept_in_the_cache() -> None:
    # A loop of distinct long texts must not leave thousands of them in memory.
    spec = _spec(key="t", type="text")
    for i in range(50):
        assert _problem(spec, f"{i}" + "x" * 100_000) is None
    kept = sum(len(key[1]) for key in _checker(spec).verdicts if isinstance(key[1], str))
    assert kept <= 64 * 1024, kept


def test_short_lived_specs_never_get_another_specs_verdicts() -> None:
    # Checkers are keyed by id(spec); ids of dead objects are recycled. Each spec here lives
    # for one check, with a bound that flips the verdict on 5 each time.
    for i in range(200):
        spec = _spec(max=1 if i % 2 else 100)
        assert (_problem(spec, 5) is None) == (i % 2 == 0), i
        del spec
        if i % 50 == 0:
            gc.collect()


def test_the_checker_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs_mod, "_CACHE_SIZE", 8)
    monkeypatch.setattr(inputs_mod, "_CHECKERS", {})
    specs = [_spec(max=i) for i in range(30)]
    for i, spec in enumerate(specs):
        assert _problem(spec, i) is None
        assert _problem(spec, i + 1) is not None
        assert len(inputs_mod._CHECKERS) <= 8
    assert _problem(specs[0], 0) is None and _problem(specs[0], 1) is not None


def test_validate_inputs_through_the_caches_on_a_real_action() -> None:
    action = load_catalog().get("bitly.get_link_click_metrics")
    good = {"bitlink": "bit.ly/abc1234", "unit": "day", "units": 7}
    bad = {"bitlink": "bit.ly/abc1234", "unit": "fortnight", "units": 7}
    for _ in range(3):
        prepared, problems = validate_inputs(action, good)
        assert problems == [] and prepared["unit"] == "day"
        _, problems = validate_inputs(action, bad)
        assert [p.field for p in problems] == ["unit"]
