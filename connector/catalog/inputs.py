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
from typing import Any, TypeVar
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from connector.catalog.models import MISSING, ActionSpec, InputSpec
from connector.errors import FieldError, InvalidInput
from connector.safe_load import load_json

__all__ = [
    "coerce_input",
    "input_json_schema",
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


class _Checker:
    """An input's compiled JSON Schema, and its verdicts on scalar values.

    Compiling the schema per value cost more than the loop item it checked, and a loop
    checks the same unit, count or link thousands of times.
    """

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        schema = input_json_schema(spec)
        schema.pop("default", None)
        self.validator = Draft202012Validator(schema)
        self.verdicts: dict[tuple[type, Any], str | None] = {}
        #: value types the schema accepts whatever the value (see _proven_types)
        self.proven = _proven_types(schema)

    def problem(self, value: Any) -> str | None:
        if type(value) in self.proven:
            return None  # the coercion already gave the one thing the schema asks for
        # Long strings are judged every time: keeping thousands of them would cost memory
        # in proportion to their size, and a loop rarely repeats one.
        scalar = isinstance(value, int | float | bool) or (
            isinstance(value, str) and len(value) <= _CACHED_TEXT_MAX
        )
        if scalar and (type(value), value) in self.verdicts:
            return self.verdicts[(type(value), value)]
        error = next(iter(self.validator.iter_errors(value)), None)
        message = None
        if error is not None:
            message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
        if scalar:
            if len(self.verdicts) >= _CACHE_SIZE:
                self.verdicts.clear()
            self.verdicts[(type(value), value)] = message
        return message


# Keywords that never make this validator refuse a value: `format` is only asserted when a
# format checker is given, and none is.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "format"})
_TYPE_PROOF: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
}


def _proven_types(schema: dict[str, Any]) -> frozenset[type]:
    """The Python types whose every value the schema accepts, when it checks nothing but a
    scalar type (a bitlink, a free text, a flag): values of exactly those types need no
    validation run. Empty for any schema with a bound, pattern, enum or other assertion."""
    kind = schema.get("type")
    rest = [k for k in schema if k != "type" and k not in _ANNOTATIONS and not k.startswith("x-")]
    if rest or not isinstance(kind, str):
        return frozenset()
    return _TYPE_PROOF.get(kind, frozenset())


_CACHE_SIZE = 4096
_CACHED_TEXT_MAX = 256  # characters: the verdicts then hold at most ~1 MB of text per input
# By id(): specs hold dicts, so they are not hashable; the checker keeps its spec, so an id
# recycled by another spec is noticed.
_CHECKERS: dict[int, _Checker] = {}


_K = TypeVar("_K")
_V = TypeVar("_V")


def _by_identity(cache: dict[int, _V], key: _K, build: Callable[[_K], _V], owner: str) -> _V:
    """`cache[id(key)]`, built on a miss; the value keeps `key` as its `owner` attribute, so
    an id recycled by another object is noticed. Bounded: cleared when full."""
    value = cache.get(id(key))
    if value is None or getattr(value, owner) is not key:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        value = cache[id(key)] = build(key)
    return value


def _checker(spec: InputSpec) -> _Checker:
    return _by_identity(_CHECKERS, spec, _Checker, "spec")


def _schema_problem(spec: InputSpec, value: Any) -> str | None:
    return _checker(spec).problem(value)


class _Plan:
    """An action's input keys and each input's checker, looked up once per action instead
    of once per value (a loop validates the same action's inputs for every item)."""

    def __init__(self, action: ActionSpec) -> None:
        self.action = action
        self.keys = action.input_keys
        self.key_set = frozenset(self.keys)
        self.checks = tuple((spec, _checker(spec)) for spec in action.inputs)


# By id(), as _CHECKERS: the plan keeps its action, so a recycled id is noticed.
_PLANS: dict[int, _Plan] = {}


def _plan(action: ActionSpec) -> _Plan:
    return _by_identity(_PLANS, action, _Plan, "action")


def validate_inputs(
    action: ActionSpec, values: dict[str, Any], *, check_missing: bool = True
) -> tuple[dict[str, Any], list[FieldError]]:
    """Coerce and check `values` (templates already rendered).

    Returns the prepared inputs (defaults applied, empty optional values dropped) and the
    problems, each a FieldError(field=input key).
    """
    problems: list[FieldError] = []
    prepared: dict[str, Any] = {}
    plan = _plan(action)
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
