"""JSON written as it is produced: one valid document, in bounded memory.

`runs show --json` of a run with a million loop items cannot build its document first.
`write_json` writes a value as `json.dumps(value, indent=2, default=str)` lays it out,
except that an array may be a `LazyArray` (a loop's items, read a page at a time) or a
`Streamed` iterable (item records read from the run log), written element by element, and
a value may be `RawJSON`, text already serialised (an item's stored JSON, written as it is
rather than decoded and encoded again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from connector.lazy_array import LazyArray

__all__ = ["RawJSON", "Streamed", "write_json"]


@dataclass(frozen=True)
class RawJSON:
    """A JSON value already serialised (valid JSON text, masked)."""

    text: str


class Streamed:
    """An array whose elements come from an iterable, read once while written."""

    def __init__(self, elements: Iterable[Any]) -> None:
        self.elements = elements


def write_json(value: Any, out: TextIO, *, indent: int = 2) -> None:
    """Write `value` to `out` as one JSON document, followed by a newline."""
    for chunk in _chunks(value, 0, " " * indent):
        out.write(chunk)
    out.write("\n")


def _chunks(value: Any, level: int, step: str) -> Iterator[str]:
    if isinstance(value, RawJSON):
        yield value.text
    elif isinstance(value, Mapping):
        yield from _object(value, level, step)
    elif isinstance(value, LazyArray):
        texts = value.json_texts()
        yield from _array(iter(value) if texts is None else map(RawJSON, texts), level, step)
    elif isinstance(value, list | tuple):
        yield from _array(iter(value), level, step)
    elif isinstance(value, Streamed):
        yield from _array(iter(value.elements), level, step)
    else:
        yield json.dumps(value, default=str)


def _object(value: Mapping[Any, Any], level: int, step: str) -> Iterator[str]:
    if not value:
        yield "{}"
        return
    inner = "\n" + step * (level + 1)
    separator = "{" + inner
    for key, item in value.items():
        yield separator + json.dumps(_key(key)) + ": "
        yield from _chunks(item, level + 1, step)
        separator = "," + inner
    yield "\n" + step * level + "}"


def _array(elements: Iterator[Any], level: int, step: str) -> Iterator[str]:
    inner = "\n" + step * (level + 1)
    separator = "[" + inner
    for element in elements:
        yield separator
        yield from _chunks(element, level + 1, step)
        separator = "," + inner
    if separator.startswith("["):  # no element
        yield "[]"
        return
    yield "\n" + step * level + "]"


def _key(key: Any) -> str:
    """A key as json.dumps writes it (numbers and booleans become their JSON text)."""
    if isinstance(key, str):
        return key
    return json.dumps(key) if isinstance(key, bool | int | float) or key is None else str(key)
