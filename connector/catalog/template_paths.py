"""Constant paths in template expressions: finding them, explaining why one does not
resolve (naming the keys that exist, never values), and resolving a template that is
exactly one path without running Jinja.

Used by `templates.py`; kept apart so that module stays about evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Undefined

__all__ = [
    "MISS",
    "chain_of",
    "diagnose",
    "dotted",
    "explain_undefined",
    "paths_in",
    "plain_path",
    "resolve_plain",
]

_MAX_KEYS_SHOWN = 25


def chain_of(node: nodes.Node) -> list[Any] | None:
    """`a.b[0]` -> ['a', 'b', 0]; None when the chain has a computed step."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        head = chain_of(node.node)
        return None if head is None else [*head, node.attr]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        head = chain_of(node.node)
        return None if head is None else [*head, node.arg.value]
    return None


def paths_in(node: nodes.Node) -> Iterator[list[Any]]:
    """Maximal constant paths in an expression, outermost first."""
    chain = chain_of(node) if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem) else None
    if chain is not None:
        yield chain
        return
    for child in node.iter_child_nodes():
        yield from paths_in(child)


def dotted(chain: list[Any]) -> str:
    out = str(chain[0])
    for seg in chain[1:]:
        out += f"[{seg}]" if isinstance(seg, int) else f".{seg}"
    return out


def _keys_of(value: Mapping[Any, Any]) -> str:
    keys = sorted(str(k) for k in value)
    if not keys:
        return "no keys"
    shown = ", ".join(keys[:_MAX_KEYS_SHOWN])
    more = f" (+{len(keys) - _MAX_KEYS_SHOWN} more)" if len(keys) > _MAX_KEYS_SHOWN else ""
    return f"keys: {shown}{more}"


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def explain_undefined(chain: list[Any], context: Mapping[str, Any]) -> str | None:
    """Why `chain` does not resolve, naming what exists (never values); None if it does."""
    if chain[0] not in context:
        return f"undefined name '{chain[0]}'; the context has {_keys_of(context)}"
    value: Any = context[chain[0]]
    for i, seg in enumerate(chain[1:], start=1):
        here, full = dotted(chain[:i]), dotted(chain)
        if isinstance(value, Mapping):
            if seg not in value:
                return f"undefined path '{full}'; '{here}' has {_keys_of(value)}"
            value = value[seg]
        elif isinstance(value, list | tuple) and isinstance(seg, int):
            if not -len(value) <= seg < len(value):
                return f"undefined path '{full}'; '{here}' is a list of {len(value)} items"
            value = value[seg]
        else:
            return f"undefined path '{full}'; '{here}' is {_kind(value)}, not an object"
    return None


def diagnose(node: nodes.Node, context: Mapping[str, Any]) -> str:
    for chain in paths_in(node):
        problem = explain_undefined(chain, context)
        if problem:
            return problem
    # A key computed at run time (`a[b.c]`, `|map(attribute=b.c)`) may be a value of the
    # context, so it is never quoted.
    return "a key or attribute computed at run time does not exist (its name is not shown)"


# ---------------------------------------------------------------- the plain-path fast path

#: what `resolve_plain` gives when the path does not resolve to a value plainly
MISS: Any = object()


def plain_path(node: nodes.Node) -> tuple[Any, ...] | None:
    """The path an expression consists of and nothing else (`item`, `item.id`,
    `a['b'][0]`), or None for anything with a filter, operator, slice or computed key."""
    if not isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        return None
    chain = chain_of(node)
    return None if chain is None else tuple(chain)


def resolve_plain(
    path: tuple[Any, ...], context: Mapping[str, Any], getitem: Callable[[Any, Any], Any]
) -> Any:
    """The value at `path`, read as the sandbox reads it (`getitem` is the sandbox's own,
    which answers both `.name` and `[key]`), or MISS when a step does not resolve.

    A name is looked up in the context as Jinja does for a template with no globals. On
    MISS the caller evaluates the expression with Jinja, so every error is Jinja's path's.
    """
    head = path[0]
    if head not in context:
        return MISS
    value = context[head]
    for segment in path[1:]:
        value = getitem(value, segment)
        if isinstance(value, Undefined):
            return MISS
    return value
