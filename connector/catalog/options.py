"""Dynamic options: the values a builder offers for an input, read from another action.

An input declares `options_from` (models.OptionsFrom): the action whose output lists them,
where the list is, each item's label and value, the inputs they depend on, and how a search
is passed. `load_options` runs that action through the ActionRunner, so options are read
under the app's rate budget and error translation like any action; a failure is raised as
that error (never an empty list that would read as "you have no groups").

Options are loaded whole from the options action (which follows the API's pagination) and
handed out `page_size` at a time: the cursor is the position of the next page, opaque to
callers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connector import errors as E
from connector.catalog.catalog import Catalog
from connector.catalog.models import ActionSpec, InputSpec, OptionsFrom

__all__ = [
    "PAGE_SIZE",
    "OptionsPage",
    "load_options",
    "options_problems",
    "options_source",
    "read_path",
]

#: options per page handed to a builder
PAGE_SIZE = 100


class Runs(Protocol):
    """What loading options needs of an ActionRunner."""

    async def run(self, action_id: str, prepared_inputs: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class OptionsPage:
    """One page of options, each {"label": ..., "value": ...}; `next_cursor` is None at the end."""

    options: list[dict[str, Any]]
    next_cursor: str | None = None


_ABSENT = object()


def read_path(value: Any, path: str) -> Any:
    """`value` at the dotted `path` ("" is `value` itself), or _ABSENT."""
    for part in path.split(".") if path else ():
        if not isinstance(value, Mapping) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def options_source(
    catalog: Catalog, action_id: str, input_key: str
) -> tuple[InputSpec, OptionsFrom]:
    """The input and where its options come from, or InvalidInput saying why there are none."""
    action = catalog.get(action_id)
    spec = action.input(input_key)
    if spec is None:
        raise E.InvalidInput(
            f"{action_id} has no input '{input_key}' (inputs: {', '.join(action.input_keys)})"
        )
    if spec.options_from is None:
        fixed = f"; its options are fixed: {spec.option_values}" if spec.options else ""
        raise E.InvalidInput(f"{action_id}: input '{input_key}' has no dynamic options{fixed}")
    return spec, spec.options_from


def _source_inputs(
    action_id: str,
    input_key: str,
    source: OptionsFrom,
    inputs: Mapping[str, Any],
    search: str | None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    missing = []
    for key in source.depends_on:
        value = inputs.get(key)
        if value is None or value == "" or value == []:
            missing.append(key)
        else:
            raw[key] = value
    if missing:
        raise E.InvalidInput(
            f"{action_id}: the options of '{input_key}' depend on {', '.join(missing)}; "
            f"give {' '.join(f'--input {k}=...' for k in missing)}"
        )
    if search and source.search:
        raw[source.search] = search
    return raw


def _labelled(action_id: str, source: OptionsFrom, output: Any) -> list[dict[str, Any]]:
    items = read_path(output, source.items)
    if not isinstance(items, list):
        raise E.FatalError(
            f"the options action {source.action} answered without a list at '{source.items}'",
            where=action_id,
        )
    found: list[dict[str, Any]] = [o.model_dump() for o in source.include]
    seen = {o["value"] for o in found}
    for item in items:
        label, value = read_path(item, source.label), read_path(item, source.value)
        if label is _ABSENT or not isinstance(value, str | int | float) or value in seen:
            continue  # an item without the declared fields, or a duplicate, offers nothing
        seen.add(value)
        found.append({"label": str(label), "value": value})
    return found


def _cursor_position(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit():
        raise E.InvalidInput(f"cursor {cursor[:20]!r} is not one this catalog handed out")
    return int(cursor)


async def load_options(
    catalog: Catalog,
    runner: Runs,
    action_id: str,
    input_key: str,
    inputs: Mapping[str, Any] | None = None,
    *,
    search: str | None = None,
    cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> OptionsPage:
    """The options of `action_id`'s input `input_key`, given the form's other `inputs`.

    Raises InvalidInput (unknown action or input, a missing dependency, a bad cursor) or the
    options action's own error (its API's message, its exit code).
    """
    _, source = options_source(catalog, action_id, input_key)
    start = _cursor_position(cursor)
    raw = _source_inputs(action_id, input_key, source, inputs or {}, search)
    prepared = catalog.prepare_inputs(source.action, raw, {})
    output = await runner.run(source.action, prepared)
    options = _labelled(action_id, source, output)
    if search and not source.search:
        wanted = search.casefold()
        options = [o for o in options if wanted in o["label"].casefold()]
    page = options[start : start + page_size]
    more = start + page_size < len(options)
    return OptionsPage(page, str(start + page_size) if more else None)


def options_problems(
    action: ActionSpec, actions: Mapping[str, ActionSpec]
) -> Iterator[tuple[str, str]]:
    """(field, message) for each options_from that cannot work in this catalog."""
    for i, spec in enumerate(action.inputs):
        source = spec.options_from
        if source is None:
            continue
        where = f"inputs[{i}].options_from"
        target = actions.get(source.action)
        if target is None:
            yield f"{where}.action", f"no action '{source.action}' in the catalog"
            continue
        if target.kind != "search":
            yield f"{where}.action", f"{source.action} is not a search ({target.kind})"
        items = read_path(target.output_sample, source.items)
        if not isinstance(items, list):
            yield (
                f"{where}.items",
                f"{source.action}'s sample output has no list at '{source.items}'",
            )
        elif items:
            for name in ("label", "value"):
                path = getattr(source, name)
                if read_path(items[0], path) is _ABSENT:
                    yield f"{where}.{name}", f"'{path}' is not in {source.action}'s sample items"
        own, theirs = set(action.input_keys), set(target.input_keys)
        for key in source.depends_on:
            if key not in own:
                yield f"{where}.depends_on", f"'{key}' is not an input of {action.id}"
            elif key not in theirs:
                yield f"{where}.depends_on", f"'{key}' is not an input of {source.action}"
        if source.search is not None and source.search not in theirs:
            yield f"{where}.search", f"'{source.search}' is not an input of {source.action}"
        needed = {s.key for s in target.inputs if s.required and not s.has_default}
        for key in sorted(needed - set(source.depends_on)):
            yield f"{where}.depends_on", f"{source.action} requires '{key}': list it here"
