"""A JSON array read on demand: a loop's item outputs, kept in the run log, not in memory.

A loop of a million items cannot hold its outputs, so `steps.<loop>.output.items` is a
`LazyArray`: its length is known, an index or a short slice reads the rows it needs, and
iterating reads them a page at a time. Everything that consumes a whole array (an
aggregate, a later loop's `over`, the run's output, `runs show --json`) iterates it. What
truly needs a list in memory (an action's input) gets one through `as_list`, which is
bounded: past `MAX_MATERIALISED` items it fails with a message saying what to do instead.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, overload

from connector.errors import InvalidInput

__all__ = ["MAX_MATERIALISED", "MAX_PAGE", "PAGE", "LazyArray", "materialised"]

#: items read per page when iterating
PAGE = 1000
#: the most items a lazy array is turned into a list in memory
MAX_MATERIALISED = 10_000
#: the most items one page of a loop's items holds (`runs show --step`, the Python API)
MAX_PAGE = 10_000


class LazyArray(Sequence[Any]):
    """A read-only JSON array whose elements are read a page at a time."""

    #: what the array is, for messages ("steps.each.output.items")
    name: str = "a loop's items"

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def page(self, start: int, stop: int) -> list[Any]:
        """Elements `start` to `stop` (0 <= start <= stop <= len), read at once."""

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return self.as_list()[index]
            self._check_size(max(0, stop - start))
            return self.page(start, stop) if stop > start else []
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"{self.name} is indexed by integers, not {type(index).__name__}")
        size = len(self)
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise IndexError(f"{self.name}: index {index} out of range ({size} items)")
        return self.page(position, position + 1)[0]

    def __iter__(self) -> Iterator[Any]:
        size = len(self)
        for start in range(0, size, PAGE):
            yield from self.page(start, min(size, start + PAGE))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        if len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self.name}: {len(self):,} items, read from the run log>"

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyArray:
        return self  # read-only: a copy is the same view (dataclasses.asdict deep-copies)

    def json_texts(self) -> Iterator[str] | None:
        """Each element's JSON text, if the array holds its elements as JSON (a writer then
        copies them instead of encoding them again); None otherwise."""
        return None

    def as_list(self, where: str | None = None) -> list[Any]:
        """Every element in a list; raises InvalidInput past MAX_MATERIALISED items."""
        self._check_size(len(self), where)
        return list(self)

    def _check_size(self, count: int, where: str | None = None) -> None:
        if count > MAX_MATERIALISED:
            raise InvalidInput(
                f"{self.name} holds {count:,} items, more than the {MAX_MATERIALISED:,} that "
                "can be used as one value in memory; aggregate them (an aggregate step), loop "
                "over them, or read them page by page (`connector runs show`)",
                where=where,
            )


def materialised(value: Any, where: str | None = None) -> Any:
    """`value` with each LazyArray in it (at any depth) made a list, within the bound: for
    a consumer that needs plain JSON values (a response model)."""
    if isinstance(value, LazyArray):
        return value.as_list(where)
    if isinstance(value, dict):
        return {k: materialised(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [materialised(v, where) for v in value]
    return value
