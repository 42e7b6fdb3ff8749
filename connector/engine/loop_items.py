"""A loop's item outputs as a lazy array backed by the run log, and how an output holding
one is stored: the array is replaced by null and its place recorded as a reference.

A loop step's output is `{"items": LoopItems, "summary": {...}}`. The run log stores the
items once, as loop item rows; the step's (and the run's) `output_json` holds null in their
place and `output_refs_json` lists `[path, step_id, total]` for each array, so an output of
a million items is a few hundred bytes, and reading it back gives the lazy array again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from connector.lazy_array import PAGE, LazyArray

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog

__all__ = ["LoopItems", "join_refs", "split_refs"]

#: a reference: the path to the array in the output, the loop step, its item count
Ref = list[Any]


class LoopItems(LazyArray):
    """The outputs of loop step `step_id` of run `run_id`, by index (null for an item that
    did not succeed). Pages are read from the run log; the last one is kept."""

    def __init__(self, log: RunLog, run_id: str, step_id: str, total: int) -> None:
        self.log = log
        self.run_id = run_id
        self.step_id = step_id
        self.total = total
        self.name = f"steps.{step_id}.output.items"
        self._cached: tuple[int, list[Any]] = (0, [])

    def __len__(self) -> int:
        return self.total

    def page(self, start: int, stop: int) -> list[Any]:
        first, cached = self._cached
        if first <= start and stop <= first + len(cached):
            return cached[start - first : stop - first]
        if stop - start < PAGE:  # a single index: read its whole page, the next is likely near
            base = start - start % PAGE
            wanted = (base, min(self.total, base + PAGE))
            if wanted[0] <= start and stop <= wanted[1]:
                self._cached = (base, self._read(*wanted))
                return self._cached[1][start - base : stop - base]
        return self._read(start, stop)

    def _read(self, start: int, stop: int) -> list[Any]:
        return self.log.item_outputs(self.run_id, self.step_id, start, stop)

    def json_texts(self) -> Iterator[str]:
        """Each output's JSON text as stored ("null" for an item that did not succeed)."""
        for start in range(0, self.total, PAGE):
            stop = min(self.total, start + PAGE)
            texts = self.log.item_output_texts(self.run_id, self.step_id, start, stop)
            yield from ("null" if text is None else text for text in texts)


def split_refs(value: Any) -> tuple[Any, list[Ref] | None]:
    """`value` with each LoopItems replaced by None, and the references to restore them
    (None when it holds none: the value itself is returned, not a copy)."""
    refs: list[Ref] = []
    plain = _split(value, [], refs)
    return plain, refs or None


def _split(value: Any, path: list[Any], refs: list[Ref]) -> Any:
    if isinstance(value, LoopItems):
        refs.append([path, value.step_id, value.total])
        return None
    if not isinstance(value, dict | list):
        return value
    out: Any = None  # a copy of `value`, made at the first element replaced
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        if isinstance(item, dict | list | LoopItems):
            new = _split(item, [*path, key], refs)
            if new is not item:
                out = value.copy() if out is None else out
                out[key] = new
    return value if out is None else out


def join_refs(value: Any, refs: list[Ref] | None, log: RunLog, run_id: str) -> Any:
    """`value` as stored with its references (from `split_refs`) restored as LoopItems of
    run `run_id`."""
    for path, step_id, total in refs or []:
        items = LoopItems(log, run_id, step_id, total)
        if not path:
            return items
        holder = value
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = items
    return value
