"""Input values: coercion to the declared type, defaults, then JSON Schema validation.

Builders hand over strings ("7", "true", "bit.ly/x") and templates yield native values; each
input is coerced by its declared type, then checked against the JSON Schema derived from its
manifest (`input_json_schema`, also what `catalog export` publishes). Errors name the action,
the input, the expected type and a short repr of what arrived.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from connector.catalog.models import MISSING, ActionSpec, InputSpec
from connector.errors import FieldError, InvalidInput
from connector.safe_load import load_json

__all__ = [
    "Checker",
    "InputPlan",
    "coerce_input",
    "input_json_schema",
    "input_plan",
    "inputs_json_schema",
    "nearest",
    "raise_for",
    "validate_inputs",
]

_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_JSON_TYPE = {
    "string": "string", "text": "string", "url": "string", "datetime": "string",
    "number": "number", "integer": "integer", "boolean": "boolean",
    "array": "array", "multi-select": "array", "object": "object",
}  # fmt: skip
_EXPECTED = {
    "string": "a string", "text": "a string", "number": "a number",
    "integer": "an integer", "boolean": "a boolean (true/false)",
    "options": "one of the options", "multi-select": "a list of options",
    "array": "a list", "object": "an object", "url": "an http(s) URL",
    "datetime": "an ISO-8601 date-time or a Unix time (number)",
}  # fmt: skip


class _Bad(Exception):
    """A value that cannot be coerced; the message says what was expected."""


def short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def nearest(word: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' or ''."""
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean '{near[0]}'?)" if near else ""


# ---------------------------------------------------------------- coercion, one function a type


# ASCII digits only: Python's int() also reads "1_000" and other scripts' digits ("٣"),
# which no API reading the value afterwards would.
# Unambiguous (no two quantifiers compete for the same digits), so it fails in linear time.
_NUMERAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MAX_NUMERAL = 400  # characters; longer is no number an API takes


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise _Bad("")
    if isinstance(value, int | float):
        result: int | float = value
    elif (
        isinstance(value, str) and len(value) <= _MAX_NUMERAL and _NUMERAL.fullmatch(value.strip())
    ):
        text = value.strip()
        try:
            result = int(text)
        except ValueError:
            result = float(text)
    else:
        raise _Bad("")
    if isinstance(result, float) and not math.isfinite(result):
        raise _Bad("")
    if isinstance(result, float) and result.is_integer() and abs(result) < 2**53:
        return int(result)
    return result


#: JSON's exact integers: past this an API reading the value as a double gets another number
_MAX_SAFE_INTEGER = 2**53 - 1


def _integer(value: Any) -> int:
    result = _number(value)
    if isinstance(result, float):
        raise _Bad("")
    if abs(result) > _MAX_SAFE_INTEGER:
        raise _Bad(f"an integer between -{_MAX_SAFE_INTEGER} and {_MAX_SAFE_INTEGER}")
    return result


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise _Bad("")


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad("")  # NaN from a lenient JSON parser is not text anyone meant
    if isinstance(value, str | int | float):
        return str(value)
    raise _Bad("")


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("")
    text = value.strip()
    # Whitespace and control characters inside a URL are how header and log injection start.
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise _Bad("an http(s) URL without spaces or control characters")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Bad("")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise _Bad("an http(s) URL with a valid port") from None
    return text


def _datetime(value: Any) -> str:
    try:
        return _datetime_text(value)
    except (OverflowError, OSError, ValueError):  # an epoch or offset out of range
        raise _Bad("") from None


def _datetime_text(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Bitly writes offsets without a colon: 2020-02-03T12:06:17+0000
        if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text:
            text = f"{text[:-2]}:{text[-2:]}"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _Bad("") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    else:
        raise _Bad("")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = load_json(text)
            except InvalidInput:
                raise _Bad("") from None
            if isinstance(parsed, list):
                return parsed
            raise _Bad("")
        return [part.strip() for part in text.split(",") if part.strip()]
    raise _Bad("")


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = load_json(value)
        except InvalidInput:
            raise _Bad("") from None
        if isinstance(parsed, dict):
            return parsed
    raise _Bad("")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _option(spec: InputSpec, value: Any) -> Any:
    for option in spec.options:
        numbers = _is_number(value) and _is_number(option.value)
        if value == option.value and (type(value) is type(option.value) or numbers):
            return option.value
    text = str(value).strip().lower() if isinstance(value, str | int | float) else None
    for option in spec.options:
        if text is not None and text in (str(option.value).lower(), option.label.lower()):
            return option.value
    allowed = ", ".join(repr(v) for v in spec.option_values)
    hint = nearest(text, [str(v) for v in spec.option_values]) if text else ""
    raise _Bad(f"one of {allowed}{hint}")


_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    "string": _string,
    "text": _string,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "url": _url,
    "datetime": _datetime,
    "object": _object,
}


def _array_item(items: dict[str, Any] | None, value: Any) -> Any:
    kind = (items or {}).get("type")
    coerce = {"integer": _integer, "number": _number, "boolean": _boolean, "string": _string}
    if isinstance(kind, str) and kind in coerce:
        return coerce[kind](value)
    if kind == "object":
        return _object(value)
    return value


def _bitlink(value: str) -> str:
    # Imported late: connector.http imports httpx. Kept once found: this runs per loop item.
    global _normalize_bitlink
    if _normalize_bitlink is None:
        _normalize_bitlink = importlib.import_module("connector.http.paths").normalize_bitlink
    result: str = _normalize_bitlink(value)
    return result


_normalize_bitlink: Callable[[Any], str] | None = None


def coerce_input(spec: InputSpec, value: Any) -> Any:
    """Coerce one value to `spec`'s type; raise _Bad with the expectation on failure."""
    try:
        if spec.type == "options":
            return _option(spec, value)
        if spec.type == "multi-select":
            return [_option(spec, v) for v in _list(value)]
        if spec.type == "array":
            return [_array_item(spec.items, v) for v in _list(value)]
        result = _BY_TYPE[spec.type](value)
    except _Bad as exc:
        raise _Bad(str(exc) or _EXPECTED[spec.type]) from None
    if spec.format == "bitlink":
        try:
            result = _bitlink(result)
        except InvalidInput as exc:
            raise _Bad(f"a bitlink such as bit.ly/abc1234 ({exc.message})") from None
    return result


# ---------------------------------------------------------------- JSON Schema of the inputs


def input_json_schema(spec: InputSpec) -> dict[str, Any]:
    """The JSON Schema of one input's literal value, as form libraries draw it.

    Options are one `oneOf` of `const` + `title` (a labelled dropdown; an `enum` beside it
    would make libraries show raw values). The only extension keywords are the export's
    vocabulary (`connector.catalog.export_forms.VOCABULARY`): `x-connector-type`, the manifest
    type, and `x-connector-format`, a value format the runtime normalises (bitlink).
    """
    schema: dict[str, Any] = {"title": spec.label, "x-connector-type": spec.type}
    if spec.description:
        schema["description"] = spec.description
    if spec.type == "options":
        schema["type"] = _options_type(spec)
        schema["oneOf"] = [{"const": o.value, "title": o.label} for o in spec.options]
    elif spec.type == "multi-select":
        schema["type"] = "array"
        schema["uniqueItems"] = True
        schema["items"] = {
            "type": _options_type(spec),
            "oneOf": [{"const": o.value, "title": o.label} for o in spec.options],
        }
    else:
        schema["type"] = _JSON_TYPE[spec.type]
        if spec.type == "array":
            schema["items"] = spec.items or {}
        if spec.type == "object":
            schema["additionalProperties"] = True  # said, so form libraries offer to add keys
    if spec.type == "url":
        schema["format"] = "uri"
        schema["pattern"] = "^[Hh][Tt][Tt][Pp][Ss]?://"
    if spec.type == "datetime":
        schema["format"] = "date-time"
    if spec.format:
        schema["x-connector-format"] = spec.format
    _bounds(spec, schema)
    if spec.pattern:
        schema["pattern"] = spec.pattern
    if spec.has_default:
        schema["default"] = spec.default
    if spec.example is not MISSING:
        schema["examples"] = [spec.example]
    return schema


def _options_type(spec: InputSpec) -> str | list[str]:
    kinds = sorted({_json_kind(v) for v in spec.option_values})
    return kinds[0] if len(kinds) == 1 else kinds


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _bounds(spec: InputSpec, schema: dict[str, Any]) -> None:
    names = {
        "number": ("minimum", "maximum"),
        "integer": ("minimum", "maximum"),
        "array": ("minItems", "maxItems"),
        "multi-select": ("minItems", "maxItems"),
    }.get(spec.type, ("minLength", "maxLength"))
    for bound, name in ((spec.min, names[0]), (spec.max, names[1])):
        if bound is not None:
            schema[name] = int(bound) if name.endswith(("Items", "Length")) else bound


def inputs_json_schema(action: ActionSpec) -> dict[str, Any]:
    """The whole form of an action as one object schema, fields in order (`properties`)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {spec.key: input_json_schema(spec) for spec in action.inputs},
        "required": [spec.key for spec in action.inputs if spec.required],
    }


# ---------------------------------------------------------------- validation


class Checker:
    """One input's JSON Schema (`input_json_schema`, what builders are given), compiled once.

    The keywords an input's schema is made of (type, bounds, lengths, pattern, labelled
    options, unique items, an array's item schema of those) become plain comparisons, built
    when the plan is: a loop checks the same input for every item, and a full JSON Schema run
    per value cost more than the rest of the item's preparation. A schema holding any other
    keyword (say `multipleOf` in an array's `items`) is checked in full. When a value fails,
    the JSON Schema validator says why, in its words.
    """

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.schema = input_json_schema(spec)
        self.schema.pop("default", None)
        self._validator: Any = None
        self._tests = _compile(self.schema)
        self._passes = _all(self._tests) if self._tests is not None else None

    def problem(self, value: Any) -> str | None:
        if self._passes is not None and self._passes(value):
            return None
        error = next(iter(self.validator.iter_errors(value)), None)
        if error is None:
            return None
        return error.message if len(error.message) <= 120 else error.message[:117] + "..."

    @property
    def validator(self) -> Any:
        if self._validator is None:
            # Imported when first needed: listing the catalog never validates a value.
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema)
        return self._validator


# Keywords that never make the validator refuse a value (`format` is asserted only with a
# format checker, and none is given).
_ANNOTATIONS = frozenset({"title", "description", "examples", "format"})
Test = Callable[[Any], bool]
_IS_TYPE: dict[str, Test] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_SIZED: dict[str, type[str] | type[list[Any]]] = {
    "minLength": str,
    "maxLength": str,
    "minItems": list,
    "maxItems": list,
}


def _json_key(value: Any) -> tuple[str, Any]:
    """A value as JSON Schema compares it: true is not 1, 1.0 is 1."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    return (type(value).__name__, value)


def _enum_test(values: list[Any]) -> Test:
    if all(isinstance(v, str) for v in values):  # most options: text, compared as it is
        texts = frozenset(values)
        return lambda v: isinstance(v, str) and v in texts
    allowed = {_json_key(v) for v in values}

    def test(value: Any) -> bool:
        try:
            return _json_key(value) in allowed
        except TypeError:  # unhashable: no option is a list or an object
            return False

    return test


def _is_const(branch: Any) -> bool:
    return isinstance(branch, dict) and "const" in branch and set(branch) <= {"const", "title"}


def _unique(value: Any) -> bool:
    if not isinstance(value, list):
        return True
    try:
        return len({_json_key(v) for v in value}) == len(value)
    except TypeError:
        return False  # let the validator judge lists of lists


def _any_type(kinds: list[str]) -> Test:
    checks = [_IS_TYPE[k] for k in kinds]
    return checks[0] if len(checks) == 1 else lambda v: any(check(v) for check in checks)


def _all(tests: list[Test]) -> Test:
    """One test passing when every test passes (most inputs have one or two)."""
    if not tests:
        return lambda v: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda v: first(v) and second(v)
    return lambda v: all(test(v) for test in tests)


def _bound(limit: float, low: bool) -> Test:
    number = _IS_TYPE["number"]
    return lambda v: not number(v) or (v >= limit if low else v <= limit)


def _size(limit: int, kind: type[str] | type[list[Any]], low: bool) -> Test:
    return lambda v: not isinstance(v, kind) or (len(v) >= limit if low else len(v) <= limit)


def _matches(pattern: str) -> Test:
    rx = re.compile(pattern)
    return lambda v: not isinstance(v, str) or rx.search(v) is not None


def _each(tests: list[Test]) -> Test:
    return lambda v: not isinstance(v, list) or all(all(t(i) for t in tests) for i in v)


def _compile(schema: dict[str, Any]) -> list[Test] | None:
    """Plain tests equivalent to `schema`, or None when it holds a keyword not handled here."""
    tests: list[Test] = []
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        if keyword == "type":
            kinds = [arg] if isinstance(arg, str) else list(arg)
            if any(k not in _IS_TYPE for k in kinds):
                return None
            tests.append(_any_type(kinds))
        elif keyword in ("minimum", "maximum"):
            tests.append(_bound(arg, keyword == "minimum"))
        elif keyword in _SIZED:
            tests.append(_size(arg, _SIZED[keyword], keyword.startswith("min")))
        elif keyword == "pattern":
            tests.append(_matches(arg))
        elif keyword == "enum":
            tests.append(_enum_test(arg))
        elif keyword == "oneOf" and all(_is_const(branch) for branch in arg):
            # labelled options: exactly one `const` matches (validate refuses equal values)
            tests.append(_enum_test([branch["const"] for branch in arg]))
        elif keyword == "additionalProperties" and arg is True:
            continue
        elif keyword == "uniqueItems" and arg is True:
            tests.append(_unique)
        elif keyword == "items" and isinstance(arg, dict):
            item_tests = _compile(arg)
            if item_tests is None:
                return None
            tests.append(_each(item_tests))
        else:
            return None
    return tests


class InputPlan:
    """An action's input keys and each input's checker: compiled once per action, kept on
    the action (`input_plan`), since a loop validates the same inputs for every item."""

    def __init__(self, action: ActionSpec) -> None:
        self.keys = action.input_keys
        self.key_set = frozenset(self.keys)
        self.checks = tuple((spec, Checker(spec)) for spec in action.inputs)


def input_plan(action: ActionSpec) -> InputPlan:
    """The action's compiled plan, built on first use and stored on the action."""
    plan: InputPlan | None = action.compiled.get("inputs")
    if plan is None:
        plan = action.compiled["inputs"] = InputPlan(action)
    return plan


def validate_inputs(
    action: ActionSpec, values: dict[str, Any], *, check_missing: bool = True
) -> tuple[dict[str, Any], list[FieldError]]:
    """Coerce and check `values` (templates already rendered).

    Returns the prepared inputs (defaults applied, empty optional values dropped) and the
    problems, each a FieldError(field=input key).
    """
    problems: list[FieldError] = []
    prepared: dict[str, Any] = {}
    plan = input_plan(action)
    keys = plan.keys
    for key in values:
        if key not in plan.key_set:
            problems.append(
                FieldError(key, f"unknown input{nearest(key, keys)}; inputs are: {', '.join(keys)}")
            )
    for spec, checker in plan.checks:
        value = values.get(spec.key)
        if value is None or value == "" or value == []:
            if spec.has_default:
                prepared[spec.key] = spec.default
            elif spec.required and check_missing:
                problems.append(FieldError(spec.key, f"required ({spec.label}); no value given"))
            continue
        try:
            coerced = coerce_input(spec, value)
        except _Bad as exc:
            problems.append(
                FieldError(spec.key, f"expected {exc}, got {short_repr(value)}", "type")
            )
            continue
        problem = checker.problem(coerced)
        if problem:
            problems.append(FieldError(spec.key, problem, "invalid"))
            continue
        prepared[spec.key] = coerced
    return prepared, problems


def raise_for(action_id: str, problems: list[FieldError]) -> None:
    """One InvalidInput naming every bad input of the action."""
    if not problems:
        return
    if len(problems) == 1:
        p = problems[0]
        raise InvalidInput(f"input '{p.field}': {p.message}", where=action_id)
    listed = "; ".join(f"input '{p.field}': {p.message}" for p in problems)
    raise InvalidInput(f"{len(problems)} invalid inputs: {listed}", where=action_id)
