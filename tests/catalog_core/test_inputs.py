"""Input coercion by declared type, validation messages, and Catalog.prepare_inputs."""

from __future__ import annotations

from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.catalog.inputs import _Bad, coerce_input
from connector.catalog.models import InputSpec, Option
from connector.errors import InvalidInput, TemplateError

UNIT = InputSpec(
    key="unit",
    label="Time Unit",
    type="options",
    options=(Option(label="Day", value="day"), Option(label="Week", value="week")),
)


def spec(type_: str, **kw: Any) -> InputSpec:
    return InputSpec(key="x", label="X", type=type_, **kw)


@pytest.mark.parametrize(
    ("input_spec", "raw", "expected"),
    [
        (spec("number"), "7", 7),
        (spec("number"), "7.5", 7.5),
        (spec("number"), 3, 3),
        (spec("integer"), "7", 7),
        (spec("integer"), "7.0", 7),
        (spec("integer"), 7.0, 7),
        (spec("integer"), " -1 ", -1),
        (spec("boolean"), "true", True),
        (spec("boolean"), "False", False),
        (spec("boolean"), "1", True),
        (spec("boolean"), "0", False),
        (spec("boolean"), "yes", True),
        (spec("boolean"), "no", False),
        (spec("boolean"), 1, True),
        (spec("string"), 42, "42"),
        (spec("string"), True, "true"),
        (UNIT, "day", "day"),
        (UNIT, "Week", "week"),
        (spec("multi-select", options=UNIT.options), "day,week", ["day", "week"]),
        (spec("multi-select", options=UNIT.options), '["week"]', ["week"]),
        (spec("array"), "a, b ,c", ["a", "b", "c"]),
        (spec("array"), '["a", 1]', ["a", 1]),
        (spec("array", items={"type": "integer"}), "1,2", [1, 2]),
        (spec("object"), '{"a": 1}', {"a": 1}),
        (spec("url"), " https://example.com/x ", "https://example.com/x"),
        (spec("datetime"), "2026-04-11T10:00:00+02:00", "2026-04-11T08:00:00Z"),
        (spec("datetime"), "2020-02-03T12:06:17+0000", "2020-02-03T12:06:17Z"),
        (spec("datetime"), "2026-04-11", "2026-04-11T00:00:00Z"),
        (spec("datetime"), 0, "1970-01-01T00:00:00Z"),
        (spec("string", format="bitlink"), "https://bit.ly/abc1234/", "bit.ly/abc1234"),
    ],
)
def test_coercion_table(input_spec: InputSpec, raw: object, expected: object) -> None:
    assert coerce_input(input_spec, raw) == expected


@pytest.mark.parametrize(
    ("input_spec", "raw", "expected"),
    [
        (spec("integer"), "seven", "an integer"),
        (spec("integer"), "7.5", "an integer"),
        (spec("integer"), True, "an integer"),
        (spec("number"), "nan", "a number"),
        (spec("boolean"), "maybe", "a boolean"),
        (UNIT, "year", "one of 'day', 'week'"),
        (spec("url"), "ftp://x.org/a", "an http(s) URL"),
        (spec("url"), "not a url", "an http(s) URL"),
        (spec("datetime"), "yesterday", "an ISO-8601 date-time"),
        (spec("object"), "[1]", "an object"),
        (spec("string"), {"a": 1}, "a string"),
        (spec("string", format="bitlink"), "bit.ly/x/../../user", "a bitlink"),
    ],
)
def test_coercion_failures(input_spec: InputSpec, raw: object, expected: str) -> None:
    with pytest.raises(_Bad, match=expected.replace("(", r"\(").replace(")", r"\)")):
        coerce_input(input_spec, raw)


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog()


def test_prepare_inputs_renders_coerces_and_applies_defaults(catalog) -> None:  # type: ignore[no-untyped-def]
    raw = {
        "bitlink": "https://bit.ly/abc123",
        "unit": "{{trigger.unit}}",
        "units": "<<trigger.units>>",
    }
    out = catalog.prepare_inputs(
        "bitly.get_link_click_metrics", raw, {"trigger": {"unit": "Week", "units": "4"}}
    )
    assert out == {
        "bitlink": "bit.ly/abc123",
        "unit": "week",
        "units": 4,
        "include_breakdowns": False,
    }


def test_empty_optional_is_omitted(catalog) -> None:  # type: ignore[no-untyped-def]
    out = catalog.prepare_inputs(
        "bitly.get_link_click_metrics", {"bitlink": "bit.ly/a", "unit_reference": ""}, {}
    )
    assert "unit_reference" not in out


def test_bad_value_names_action_input_type_and_value(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as info:
        catalog.prepare_inputs(
            "bitly.get_link_click_metrics", {"bitlink": "bit.ly/a", "units": "seven"}, {}
        )
    assert str(info.value) == (
        "bitly.get_link_click_metrics: input 'units': expected an integer, got 'seven'"
    )
    assert info.value.exit_code == 2


def test_options_error_lists_allowed_values(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        InvalidInput, match="expected one of 'minute', 'hour', 'day', 'week', 'month', got 'year'"
    ):
        catalog.prepare_inputs(
            "bitly.get_link_click_metrics", {"bitlink": "bit.ly/a", "unit": "year"}, {}
        )


def test_schema_bounds_are_checked(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="input 'units': -5 is less than the minimum of -1"):
        catalog.prepare_inputs(
            "bitly.get_link_click_metrics", {"bitlink": "bit.ly/a", "units": -5}, {}
        )
    with pytest.raises(InvalidInput, match="input 'tags'"):
        catalog.prepare_inputs(
            "shorten_dev.create_link",
            {"destination_url": "https://e.com", "tags": "a,b,c,d"},
            {},
        )


def test_unknown_key_suggests_nearest_and_missing_required(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as info:
        catalog.prepare_inputs("bitly.get_link_click_metrics", {"unitz": "day"}, {})
    message = str(info.value)
    assert "input 'unitz': unknown input (did you mean 'unit'?)" in message
    assert "input 'bitlink': required" in message


def test_template_error_names_the_input(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        TemplateError, match=r"bitly.get_link_click_metrics: input 'units': template"
    ):
        catalog.prepare_inputs(
            "bitly.get_link_click_metrics",
            {"bitlink": "bit.ly/a", "units": "<<trigger.n>>"},
            {"trigger": {}},
        )


def test_static_input_errors(catalog) -> None:  # type: ignore[no-untyped-def]
    errors = catalog.static_input_errors(
        "bitly.get_link_click_metrics", {"unitz": "day", "units": "seven", "unit": "<<trigger.u>>"}
    )
    by_field = {e.field: e.message for e in errors}
    assert set(by_field) == {"unitz", "units", "bitlink"}
    assert "did you mean 'unit'?" in by_field["unitz"]
    assert (
        catalog.static_input_errors("bitly.get_link_click_metrics", {"bitlink": "{{trigger.b}}"})
        == []
    )


def test_unknown_action_suggests_nearest(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=r"did you mean 'bitly\.get_bitlink'"):
        catalog.get("bitly.get_bitlnk")


# ---------------------------------------------------------------- edge cases, one row each

NUMBER_OPTIONS = spec(
    "options", options=(Option(label="One", value=1), Option(label="Two", value=2))
)


@pytest.mark.parametrize(
    ("input_spec", "raw", "expected"),
    [
        (spec("integer"), "1e3", 1000),
        (spec("integer"), " 7 ", 7),
        (spec("integer"), "-0", 0),
        (spec("integer"), "+5", 5),
        (spec("number"), "1e3", 1000),
        (spec("number"), "-0.5", -0.5),
        (spec("number"), ".5", 0.5),
        (spec("boolean"), " YES ", True),
        (spec("boolean"), 0, False),
        (NUMBER_OPTIONS, 2.0, 2),
        (NUMBER_OPTIONS, "1", 1),
        (NUMBER_OPTIONS, "two", 2),
        (spec("url"), "HTTPS://EXAMPLE.COM/a?b=c#d", "HTTPS://EXAMPLE.COM/a?b=c#d"),
        (spec("url"), "https://[::1]:8080/x", "https://[::1]:8080/x"),
        (spec("datetime"), "2026-04-11T10:00:00", "2026-04-11T10:00:00Z"),  # naive means UTC
        (spec("datetime"), "2026-04-11T10:00:00-05:00", "2026-04-11T15:00:00Z"),
        (spec("datetime"), "2026-04-11T10:00:00.999Z", "2026-04-11T10:00:00Z"),
        (spec("datetime"), 1775000000, "2026-03-31T23:33:20Z"),
    ],
)
def test_edge_coercions(input_spec: InputSpec, raw: object, expected: object) -> None:
    result = coerce_input(input_spec, raw)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("input_spec", "raw", "expected"),
    [
        (spec("integer"), "NaN", "an integer"),
        (spec("integer"), "Infinity", "an integer"),
        (spec("integer"), "1e400", "an integer"),
        (spec("integer"), "7.5", "an integer"),
        (spec("integer"), "0x10", "an integer"),
        (spec("integer"), "1_000", "an integer"),
        (spec("integer"), "\u0663", "an integer"),  # ARABIC-INDIC DIGIT THREE
        (spec("integer"), True, "an integer"),
        (spec("integer"), [7], "an integer"),
        (spec("integer"), 1e300, "an integer"),
        (spec("number"), "NaN", "a number"),
        (spec("number"), "-inf", "a number"),
        (spec("number"), float("inf"), "a number"),
        (spec("number"), False, "a number"),
        (spec("number"), [1.5], "a number"),
        (spec("boolean"), 2, "a boolean"),
        (spec("boolean"), "on", "a boolean"),
        (spec("boolean"), [True], "a boolean"),
        (spec("string"), ["a"], "a string"),
        (spec("string"), {"a": 1}, "a string"),
        (spec("string"), float("nan"), "a string"),
        (spec("text"), ["a"], "a string"),
        (spec("url"), "javascript:alert(1)", "an http(s) URL"),
        (spec("url"), "JavaScript:alert(1)//https://x.com", "an http(s) URL"),
        (spec("url"), "https://example.com/a b", "without spaces or control characters"),
        (spec("url"), "https://example.com/\tx", "without spaces or control characters"),
        (spec("url"), "https://example.com/\x00", "without spaces or control characters"),
        (spec("url"), "https://example.com:99999/", "a valid port"),
        (spec("url"), "https:///path", "an http(s) URL"),
        (spec("url"), "//example.com", "an http(s) URL"),
        (spec("url"), ["https://example.com"], "an http(s) URL"),
        (spec("datetime"), "2026-13-01T00:00:00Z", "an ISO-8601 date-time"),
        (spec("datetime"), "2026-04-11T25:00Z", "an ISO-8601 date-time"),
        (spec("datetime"), "yesterday", "an ISO-8601 date-time"),
        (spec("datetime"), 1e20, "an ISO-8601 date-time"),  # was an OverflowError
        (spec("datetime"), "9999-12-31T23:59:59-14:00", "an ISO-8601 date-time"),
        (spec("datetime"), True, "an ISO-8601 date-time"),
        (spec("object"), "[1]", "an object"),
        (spec("object"), [1], "an object"),
        (spec("array"), 7, "a list"),
        (spec("array"), {"a": 1}, "a list"),
        (UNIT, "days", "one of 'day', 'week' (did you mean 'day'?)"),
        (UNIT, ["day"], "one of 'day', 'week'"),
        (UNIT, True, "one of 'day', 'week'"),
        (NUMBER_OPTIONS, True, "one of 1, 2"),
    ],
)
def test_edge_failures(input_spec: InputSpec, raw: object, expected: str) -> None:
    with pytest.raises(_Bad) as info:
        coerce_input(input_spec, raw)
    assert expected in str(info.value)


def test_error_names_input_expected_type_received_value_and_options(catalog) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as info:
        catalog.prepare_inputs(
            "bitly.get_link_click_metrics",
            {"bitlink": "bit.ly/abc", "units": "1e400", "unit": "fortnight"},
            {},
        )
    message = str(info.value)
    assert message.startswith("bitly.get_link_click_metrics: 2 invalid inputs")
    assert "input 'units': expected an integer, got '1e400'" in message
    assert "input 'unit': expected one of 'minute', 'hour', 'day', 'week', 'month'" in message
    assert "got 'fortnight'" in message


@pytest.mark.parametrize(
    "raw", ["1" * 50_000 + "x", "1" * 20_000 + "." + "1" * 20_000 + "x", "9" * 5_000]
)
def test_long_numerals_fail_fast(raw: str) -> None:
    import time

    started = time.thread_time()  # an ambiguous numeral regex took 31 s on 40,000 digits
    with pytest.raises(_Bad, match="an integer"):
        coerce_input(spec("integer"), raw)
    with pytest.raises(_Bad, match="a number"):
        coerce_input(spec("number"), raw)
    assert time.thread_time() - started < 0.5
