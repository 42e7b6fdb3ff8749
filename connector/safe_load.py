"""The one way user YAML and JSON is read: bounded in size, depth and expanded size.

Workflow files, `--trigger`, `--inputs-json`, `--context-json` and JSON given as an input
value all come through here, so a hostile document gives one clear error, never a
RecursionError, a MemoryError or an unbounded read:

- at most `MAX_BYTES` are read from a file (`/dev/zero` is refused after that many);
- nesting deeper than `MAX_DEPTH` is refused (YAML, JSON and JSON inside YAML alike);
- YAML aliases are counted as what they expand to: an alias bomb, or an anchor that
  contains itself, is refused before any object is built;
- a key given twice in one mapping is an error naming both lines (YAML silently keeps the
  last one, and so does Python's json: a second `steps:` would replace the first);
- NaN and infinities are refused (`1e400` too, which Python's json reads as infinity): no
  count, delay or size makes sense as one;
- JSON text holding half of a UTF-16 surrogate pair (`"\\ud800"`) is refused: it decodes to
  a string no UTF-8 file, database or terminal can hold.

A trigger file (`--trigger @FILE`) has its own, larger bounds, `TRIGGER_FILE_MAX_BYTES` and
`TRIGGER_FILE_MAX_VALUES` (`load_json_file`): a builder exports a million rows to one file
to loop over them. Its values are counted in the bytes before any is built, so a file of
tiny values (`[{},{},...]`) is refused before it could take gigabytes to decode; every other
check is the same, with the same messages.

Errors are InvalidInput with `where` set to `source:line` when the line is known; callers
that need another class (a workflow's WorkflowInvalid) translate it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from connector.errors import InvalidInput

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "TRIGGER_FILE_MAX_BYTES",
    "TRIGGER_FILE_MAX_VALUES",
    "check_text",
    "load_json",
    "load_json_file",
    "load_yaml",
    "read_text",
]

#: bytes of one document: a workflow or a trigger payload is far smaller
MAX_BYTES = 4 * 1024 * 1024
#: levels of nested mappings and lists
MAX_DEPTH = 100
#: values (scalars, mappings, lists) one document may expand to, aliases included
MAX_VALUES = 1_000_000
#: bytes of a trigger file: a million-item loop's rows as one JSON document. A million
#: bitlinks are about 20 MB, a million rows of a few fields (a URL, a title, tags) 100-200 MB;
#: 256 MiB leaves room for those and still refuses a runaway export before it is read.
TRIGGER_FILE_MAX_BYTES = 256 * 1024 * 1024
#: values of a trigger file: a million rows of up to about 20 fields each. Decoded, a value
#: takes 64-110 bytes, so this bound caps what decoding can build (2.1 GB measured at it:
#: a cap on a mistake, not a memory target; a million bitlinks take 72 MB).
TRIGGER_FILE_MAX_VALUES = 20_000_000

try:  # libyaml parses in C and caps flow nesting itself; the checks below are the same
    _BaseLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


@contextlib.contextmanager
def _opened(path: str | Path, what: str) -> Iterator[BinaryIO]:
    """`path` open for reading; a missing file, a folder or a read that fails is one error."""
    shown = str(path)
    try:
        with open(path, "rb") as handle:
            yield handle
    except FileNotFoundError:
        raise InvalidInput(f"{what} not found", where=shown) from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} is a folder, not a file", where=shown) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidInput(f"cannot read the {what}: {reason}", where=shown) from None


def read_text(path: str | Path, *, what: str = "file", limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of `path`, reading at most `limit` bytes (+1 to know it is larger)."""
    shown = str(path)
    with _opened(path, what) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"the {what} is larger than {_size(limit)}", where=shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"the {what} is not UTF-8 text", where=f"{shown}:{line}") from None


def check_text(text: str, source: str, limit: int = MAX_BYTES) -> None:
    """Refuse text larger than `limit` (UTF-8 bytes, estimated from characters first)."""
    # A character is at most 4 bytes: most texts need no encoding to be known small enough.
    too_big = len(text) * 4 > limit and len(text.encode("utf-8", "replace")) > limit
    if len(text) > limit or too_big:
        raise InvalidInput(f"larger than {_size(limit)}", where=source)


# --------------------------------------------------------------------------------------- YAML


def load_yaml(text: str, source: str = "<yaml>") -> Any:
    """YAML (or JSON, which YAML reads too) text -> Python values, within every bound."""
    check_text(text, source)
    loader = _BaseLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        if "maximum nesting depth" in problem:  # libyaml's own cap on flow nesting
            raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", where=source) from None
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise InvalidInput(f"YAML/JSON syntax error: {problem}", where=where) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"YAML/JSON syntax error: {exc}", where=source) from None
    except RecursionError:  # the pure-Python composer, without libyaml
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", where=source) from None
    finally:
        loader.dispose()


_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NON_FINITE = re.compile(r"[-+]?\.(inf|nan)", re.IGNORECASE)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _check_graph(root: yaml.Node, source: str) -> None:
    """Depth, expanded size, cycles, duplicate keys and non-finite numbers of a node graph.

    A node reached through several aliases is the same object, so sizes are memoised by
    identity: the check is linear in the text even when the expansion is exponential.
    Iterative, so a deep document cannot exhaust Python's stack here.
    """
    size: dict[int, int] = {}  # id(node) -> values it expands to
    depth: dict[int, int] = {}  # id(node) -> levels below it, itself included
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if depth[key] > MAX_DEPTH:
                raise InvalidInput(
                    f"nested deeper than {MAX_DEPTH} levels", where=f"{source}:{_line(node)}"
                )
            if size[key] > MAX_VALUES:
                raise InvalidInput(
                    f"expands to more than {MAX_VALUES:,} values (aliases included)",
                    where=f"{source}:{_line(node)}",
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise InvalidInput(
                "an alias refers to an anchor that contains it (a recursive structure)",
                where=f"{source}:{_line(node)}",
            )
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _FLOAT_TAG and _NON_FINITE.fullmatch(node.value.strip()):
                raise InvalidInput(
                    f"{node.value} is not a finite number", where=f"{source}:{_line(node)}"
                )
            size[key], depth[key] = 1, 0
            continue
        if isinstance(node, yaml.MappingNode):
            _check_keys(node, source)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_keys(node: yaml.MappingNode, source: str) -> None:
    seen: dict[tuple[str, str], yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        ident = (key_node.tag, key_node.value)
        first = seen.get(ident)
        if first is not None:
            raise InvalidInput(
                f"key {key_node.value[:60]!r} appears twice in one mapping, on lines "
                f"{_line(first)} and {_line(key_node)}; the second would silently replace "
                "the first",
                where=f"{source}:{_line(key_node)}",
            )
        seen[ident] = key_node


# --------------------------------------------------------------------------------------- JSON


class _DuplicateKey(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def load_json(text: str, source: str = "<json>", *, limit: int = MAX_BYTES) -> Any:
    """JSON text -> Python values, within every bound; errors name line and column."""
    check_text(text, source, limit)
    return _decode(text, source, MAX_VALUES)


def load_json_file(
    path: str | Path,
    *,
    what: str = "file",
    max_bytes: int = TRIGGER_FILE_MAX_BYTES,
    max_values: int = TRIGGER_FILE_MAX_VALUES,
) -> Any:
    """The JSON document in file `path` (a pipe too: `@/dev/stdin`), within `max_bytes` and
    `max_values` and every other bound of `load_json`; errors name the file and the line.

    Memory: the bytes are counted before they are decoded and dropped before the values are
    built, so the peak is the larger of twice the file and the text with its values."""
    shown = str(path)
    data = _read_bytes(path, what, max_bytes)
    if b"\x00" in data:  # never in JSON text; /dev/zero is refused at its first chunk
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InvalidInput("not valid JSON (a NUL byte)", where=f"{shown}:{line}")
    if _values_at_most(data, max_values) > max_values:
        raise InvalidInput(f"holds more than {max_values:,} values", where=shown)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"the {what} is not UTF-8 text", where=f"{shown}:{line}") from None
    del data
    return _decode(text, shown, max_values)


#: bytes read at a time from a file whose size is not known beforehand (a pipe, a device)
_CHUNK = 1024 * 1024


def _read_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """At most `limit` bytes of `path`: a regular file larger than that is refused by its
    size, unread; anything else is read a chunk at a time, and refused at its first NUL byte
    (JSON text never holds one) or past `limit`."""
    with _opened(path, what) as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
            data = handle.read(limit + 1)  # it may have grown since: checked below
        elif stat.S_ISREG(info.st_mode):
            data = b""
        else:
            chunks: list[bytes] = []
            total = 0
            while total <= limit and (chunk := handle.read(_CHUNK)):
                chunks.append(chunk)
                total += len(chunk)
                if b"\x00" in chunk:
                    break
            data = b"".join(chunks)
    too_big = info.st_size > limit or len(data) > limit
    if too_big and b"\x00" not in data:
        raise InvalidInput(f"the {what} is larger than {_size(limit)}", where=str(path))
    return data


# A JSON string whole (escapes included): the unrolled form, which `re` runs without
# backtracking per character.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_WHITESPACE = b" \t\r\n"


def _values_at_most(data: bytes, enough: int) -> int:
    """How many values the JSON text `data` holds (exact for valid JSON, an upper bound
    otherwise), found without building any.

    Each container of k elements holds k-1 commas, so a document holds 1 + commas +
    non-empty containers values. Counted in the raw bytes, commas and brackets inside
    strings count too: an upper bound, enough when it is small. Otherwise the strings are
    emptied and the whitespace dropped (both in C, linear) and the count made exact."""

    def count(text: bytes) -> int:
        return 1 + text.count(b",") + text.count(b"[") + text.count(b"{")

    bound = count(data)
    if bound <= enough:  # the usual case: no copy made
        return bound
    bare = _STRING.sub(b'""', data).translate(None, _WHITESPACE)
    return count(bare) - bare.count(b"[]") - bare.count(b"{}")


def _no_float_infinity(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:40]} is not a finite number")
    return number


# `\ud800`-`\udfff` written as an escape: a lone one decodes to a string UTF-8 cannot hold.
# (A pair decodes to one character; a match here only makes the strings be looked at.)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode(text: str, source: str, max_values: int) -> Any:
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_no_constant,
            parse_float=_no_float_infinity,
        )
    except _DuplicateKey:
        raise _duplicate_error(text, source) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"not valid JSON ({exc.msg})", where=f"{source}:{exc.lineno}:{exc.colno}"
        ) from None
    except ValueError as exc:  # from _no_constant, _no_float_infinity, int's digit limit
        raise InvalidInput(str(exc), where=source) from None
    except RecursionError:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", where=source) from None
    _check_value(value, source, max_values)
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(value, source)
    return value


def _check_value(value: Any, source: str, max_values: int = MAX_VALUES) -> None:
    """Depth and size of decoded JSON, iteratively. One iterator per open container (not
    one entry per value): a list of a million items costs no second list to walk it."""
    count = 1
    if not isinstance(value, dict | list):
        return
    stack: list[Iterator[Any]] = [iter(value.values() if isinstance(value, dict) else value)]
    while stack:
        for child in stack[-1]:
            count += 1
            if count > max_values:
                raise InvalidInput(f"holds more than {max_values:,} values", where=source)
            if isinstance(child, dict | list):
                if len(stack) >= MAX_DEPTH:
                    raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", where=source)
                stack.append(iter(child.values() if isinstance(child, dict) else child))
                break
        else:
            stack.pop()


def _check_surrogates(value: Any, source: str) -> None:
    """Refuse a string or key holding half of a surrogate pair, naming where it is. Walked
    as `_check_value` walks (an iterator per open container), the path kept as it goes."""
    path: list[str | int] = []
    stack: list[Iterator[tuple[str | int, Any]]] = [enumerate([value])]
    while stack:
        for label, child in stack[-1]:
            if isinstance(label, str) and _SURROGATE.search(label):
                _lone_surrogate(label, path, source)
            if isinstance(child, str):
                if _SURROGATE.search(child):
                    _lone_surrogate(child, [*path, label], source)
            elif isinstance(child, dict | list):
                path.append(label)
                stack.append(iter(child.items()) if isinstance(child, dict) else enumerate(child))
                break
        else:
            stack.pop()
            if path:
                path.pop()


def _lone_surrogate(text: str, path: list[str | int], source: str) -> None:
    found = _SURROGATE.search(text)
    assert found is not None
    shown = "".join(
        f"[{part}]" if isinstance(part, int) else f".{_SURROGATE.sub('?', part[:40])}"
        for part in path[1:]  # path[0] is the document itself
    )
    at = f" at {shown.lstrip('.')}" if shown else ""
    raise InvalidInput(
        f"a string{at} holds \\u{ord(found.group()):04x}, half of a UTF-16 surrogate pair, "
        "which is not text",
        where=source,
    )


# Strings whole (so a quote inside one never misaligns the scan) and structural characters.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:]', re.DOTALL)


def _duplicate_error(text: str, source: str) -> InvalidInput:
    """Find the first repeated key of valid JSON text and the lines of both occurrences."""
    objects: list[dict[str, int] | None] = []  # per open bracket: keys seen -> offset
    previous: re.Match[str] | None = None
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "{[":
            objects.append({} if token == "{" else None)
        elif token in "}]":
            objects.pop()
        elif token == ":" and previous is not None and objects and objects[-1] is not None:
            key = json.loads(previous.group())
            seen = objects[-1]
            if key in seen:
                first = text.count("\n", 0, seen[key]) + 1
                second = text.count("\n", 0, previous.start()) + 1
                return InvalidInput(
                    f"key {key[:60]!r} appears twice in one object, on lines {first} and "
                    f"{second}; the second would silently replace the first",
                    where=f"{source}:{second}",
                )
            seen[key] = previous.start()
        previous = match
    return InvalidInput("a key appears twice in one object", where=source)  # pragma: no cover
