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
- NaN and infinities are refused: no count, delay or size makes sense as one.

Errors are InvalidInput with `where` set to `source:line` when the line is known; callers
that need another class (a workflow's WorkflowInvalid) translate it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from connector.errors import InvalidInput

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "check_text",
    "load_json",
    "load_yaml",
    "read_text",
]

#: bytes of one document: a workflow or a trigger payload is far smaller
MAX_BYTES = 4 * 1024 * 1024
#: levels of nested mappings and lists
MAX_DEPTH = 100
#: values (scalars, mappings, lists) one document may expand to, aliases included
MAX_VALUES = 1_000_000

try:  # libyaml parses in C and caps flow nesting itself; the checks below are the same
    _BaseLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


def read_text(path: str | Path, *, what: str = "file", limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of `path`, reading at most `limit` bytes (+1 to know it is larger)."""
    shown = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise InvalidInput(f"{what} not found", where=shown) from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} is a folder, not a file", where=shown) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidInput(f"cannot read the {what}: {reason}", where=shown) from None
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
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except _DuplicateKey:
        raise _duplicate_error(text, source) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"not valid JSON ({exc.msg})", where=f"{source}:{exc.lineno}:{exc.colno}"
        ) from None
    except ValueError as exc:  # from _no_constant
        raise InvalidInput(str(exc), where=source) from None
    except RecursionError:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", where=source) from None
    _check_value(value, source)
    return value


def _check_value(value: Any, source: str) -> None:
    """Depth (and, for a value built in Python, size) of decoded JSON, iteratively."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise InvalidInput(f"holds more than {MAX_VALUES:,} values", where=source)
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > MAX_DEPTH:
            raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", where=source)
        stack.extend((child, level + 1) for child in children)


# Strings whole (so a quote inside one never misaligns the scan) and structural characters.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]', re.DOTALL)


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
