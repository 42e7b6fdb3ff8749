"""pydantic's validation errors, said the way a manifest author reads them.

Each error becomes (field, message): the field as a path (`inputs[0].type`), the message in
the words JSON Schema validators use (`'str' is not one of [...]`, `required key is missing`,
`unknown key (did you mean 'description'?)`), so the same manifest gets the same message
from `connector catalog validate` as from an editor checking the shipped schema.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["describe_errors", "field_path"]

_MAX_MESSAGE = 160
_JSON_TYPE = {
    "bool_type": "boolean", "string_type": "string", "int_type": "integer",
    "int_from_float": "integer", "float_type": "number", "dict_type": "object",
    "model_type": "object", "model_attributes_type": "object", "list_type": "array",
    "tuple_type": "array",
}  # fmt: skip


def field_path(parts: Any) -> str:
    """['inputs', 2, 'type'] -> 'inputs[2].type'."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation may hold: Annotated and Optional peeled off."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _field_annotation(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info.annotation
    return None


def _annotation_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The annotation of the value at `loc` inside `model`, or None when it cannot be told."""
    current: Any = model
    for part in loc:
        found = None
        for candidate in _unwrap(current):
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found = _field_annotation(candidate, str(part))
            elif origin in (tuple, list) and isinstance(part, int):
                found = typing.get_args(candidate)[0]
            elif origin is dict and isinstance(part, str):
                found = typing.get_args(candidate)[1]
            if found is not None:
                break
        if found is None:
            return None
        current = found
    return current


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    annotation = model if not loc else _annotation_at(model, loc)
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _literal_values(model: type[BaseModel], loc: tuple[Any, ...]) -> list[Any] | None:
    for candidate in _unwrap(_annotation_at(model, loc)):
        if typing.get_origin(candidate) is typing.Literal:
            return list(typing.get_args(candidate))
    return None


def describe_errors(
    model: type[BaseModel],
    error: ValidationError,
    where: Callable[[tuple[Any, ...]], str] | None = None,
    *,
    untagged: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None,
) -> Iterator[tuple[str, str]]:
    """(field, message) for each of the validation errors of `model`.

    `where` says a location as a field (default: `inputs[0].type`); `untagged` drops the
    tags pydantic puts in the location of a discriminated union's member.
    """
    for item in error.errors(include_url=False):
        # pydantic marks a refused mapping key with a "[key]" step: the key names the field
        loc = tuple(p for p in item["loc"] if p != "[key]")
        loc = untagged(loc) if untagged else loc
        field = where(loc) if where else field_path(loc) or "(top)"
        yield field, _message(model, item, loc)


def _message(model: type[BaseModel], item: Any, loc: tuple[Any, ...]) -> str:
    kind, value, ctx = item["type"], item.get("input"), item.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = _keys(parent) if parent else []
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else f" (allowed: {', '.join(allowed)})"
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        values = _literal_values(model, loc)
        text = f"{value!r} is not one of {values!r}" if values else item["msg"]
    elif kind == "string_pattern_mismatch":
        text = f"{value!r} does not match {ctx.get('pattern')!r}"
    elif kind in _JSON_TYPE:
        text = f"{value!r} is not of type '{_JSON_TYPE[kind]}'"
    elif kind in ("string_too_short", "too_short") and value is not None and len(value) == 0:
        text = f"{value!r} should be non-empty"
    elif kind in ("greater_than_equal", "greater_than"):
        text = f"{value!r} is less than the minimum of {ctx.get('ge', ctx.get('gt'))!r}"
    elif kind in ("less_than_equal", "less_than"):
        text = f"{value!r} is greater than the maximum of {ctx.get('le', ctx.get('lt'))!r}"
    elif kind == "value_error":
        text = str(ctx.get("error") or item["msg"])
    else:
        text = item["msg"]
    return _short(text)
