"""Aggregate steps: summarise an array (a loop's items) into totals, top-N lists, tables.

Templates are a data language without calls, so totals and rankings across items live here
as five small, named operations rather than in template code.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from connector.errors import InvalidInput
from connector.lazy_array import LazyArray

__all__ = ["aggregate"]


def _get(element: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(element, dict):
            return None
        element = element.get(part)
    return element


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value


def _tidy(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def aggregate(items: Any, fields: dict[str, dict[str, Any]], *, where: str) -> dict[str, Any]:
    """Each field's operation over the array `items` (a list, or a loop's items read from
    the run log page by page: each operation iterates it once and keeps only its result,
    so a million items take no more memory than ten)."""
    if not isinstance(items, list | LazyArray):
        raise InvalidInput(
            f"aggregate.over must give an array, not {type(items).__name__}", where=where
        )

    def present() -> Iterator[Any]:
        return (x for x in items if x is not None)

    out: dict[str, Any] = {}
    for name, op in fields.items():
        limit = int(op.get("limit", 10))
        if "sum" in op:
            out[name] = _tidy(sum(_number(_get(x, op["sum"])) for x in present()))
        elif "count" in op:
            out[name] = sum(1 for _ in present())
        elif "top" in op:
            # nlargest keeps `limit` entries and ranks as a stable sort would (ties in order)
            ranked = heapq.nlargest(limit, present(), key=lambda x: _number(_get(x, op["top"])))
            out[name] = [{op["label"]: _get(x, op["label"]), op["top"]: _get(x, op["top"])}
                         for x in ranked]  # fmt: skip
        elif "pick" in op:
            out[name] = [{k: _get(x, path) for k, path in op["pick"].items()} for x in present()]
        elif "merge" in op:
            totals: dict[Any, float] = defaultdict(float)
            for x in present():
                for entry in _get(x, op["merge"]) or []:
                    key = _get(entry, op["key"])
                    if key is not None:
                        totals[key] += _number(_get(entry, op["value"]))
            ranked_keys = heapq.nsmallest(
                limit, totals.items(), key=lambda kv: (-kv[1], str(kv[0]))
            )
            out[name] = [{op["key"]: key, op["value"]: _tidy(total)} for key, total in ranked_keys]
    return out
