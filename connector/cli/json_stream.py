"""JSON written as it is produced: one valid document, in bounded memory.

`runs show --json` of a run with a million loop items cannot build its document first.
`write_json` writes a value as `json.dumps(value, indent=2, default=str)` lays it out,
except that an array may be a `LazyArray` (a loop's items, read a page at a time) or a
`RawArray` (elements that are JSON text already, such as item records read from the run
log), written element by element, and a value may be `RawJSON`, text already serialised
(an item's stored JSON, written as it is rather than decoded and encoded again).

Speed matters as much as memory here (a million items are about a gigabyte of text): a
raw array is written a page of elements per chunk, and chunks are joined into writes of
about a mebibyte, so the stream (and the terminal escaping in front of it) sees a few
thousand writes, not one per element and separator; a longer chunk (a trigger payload of
a million links) is written in slices of that size, so no write copies more than that.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from connector.lazy_array import PAGE, LazyArray

__all__ = ["RawArray", "RawJSON", "write_json"]

#: characters gathered before one write to the stream
WRITE_SIZE = 1 << 20


@dataclass(frozen=True)
class RawJSON:
    """A JSON value already serialised (valid JSON text, masked)."""

    text: str


class RawArray:
    """An array whose elements come from an iterable of JSON texts (valid, masked), read
    once while written, each written as it is on its own line."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = texts


def write_json(value: Any, out: TextIO, *, indent: int = 2) -> None:
    """Write `value` to `out` as one JSON document, followed by a newline."""
    pending: list[str] = []
    size = 0
    for chunk in _chunks(value, 0, " " * indent):
        if len(chunk) >= WRITE_SIZE:  # a big payload's text: written in slices, not copied
            out.write("".join(pending))
            pending.clear()
            size = 0
            for start in range(0, len(chunk), WRITE_SIZE):
                out.write(chunk[start : start + WRITE_SIZE])
            continue
        pending.append(chunk)
        size += len(chunk)
        if size >= WRITE_SIZE:
            out.write("".join(pending))
            pending.clear()
            size = 0
    pending.append("\n")
    out.write("".join(pending))


def _chunks(value: Any, level: int, step: str) -> Iterator[str]:
    if isinstance(value, RawJSON):
        yield value.text
    elif isinstance(value, Mapping):
        yield from _object(value, level, step)
    elif isinstance(value, LazyArray):
        texts = value.json_texts()
        if texts is None:
            yield from _array(iter(value), level, step)
        else:
            yield from _raw_array(texts, level, step)
    elif isinstance(value, list | tuple):
        yield from _array(iter(value), level, step)
    elif isinstance(value, RawArray):
        yield from _raw_array(iter(value.texts), level, step)
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


def _raw_array(texts: Iterator[str], level: int, step: str) -> Iterator[str]:
    """`_array` of JSON texts, a page of them joined per chunk."""
    inner = "\n" + step * (level + 1)
    separator = "," + inner
    page = list(itertools.islice(texts, PAGE))
    if not page:
        yield "[]"
        return
    yield "[" + inner + separator.join(page)
    while page := list(itertools.islice(texts, PAGE)):
        yield separator + separator.join(page)
    yield "\n" + step * level + "]"


def _key(key: Any) -> str:
    """A key as json.dumps writes it (numbers and booleans become their JSON text)."""
    if isinstance(key, str):
        return key
    return json.dumps(key) if isinstance(key, bool | int | float) or key is None else str(key)
