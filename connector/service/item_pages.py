"""A loop's items as the API and the console page them, and a run's output with a loop's
items in it: whatever the loop's size, one request reads one page (a keyset query each
way: forwards by runlog_items.py, backwards by runlog_items_before.py), never the loop."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from connector.engine.loop_items import split_refs
from connector.engine.run_records import ItemRecord, StepRecord
from connector.engine.runlog import RunLog
from connector.engine.runlog_items_before import indices_before
from connector.engine.runlog_items_counts import LoopCounts
from connector.service.cursors import after_item, before_item, item_position
from connector.service.models import ItemPage, ItemView, OutputItems

__all__ = ["item_page", "items_url", "loop_counts", "paged_output"]

#: the statuses a finished loop's summary counts, as its item rows have them
_COUNTED = ("succeeded", "failed", "skipped")


def items_url(run_id: str, step_id: str) -> str:
    return f"/v1/runs/{quote(run_id, safe='')}/steps/{quote(step_id, safe='')}/items"


#: what an item shows: its record's fields but `step_id`
_FIELDS = tuple(ItemView.model_fields)


def _view(item: ItemRecord) -> ItemView:
    # attribute by attribute: `dataclasses.asdict` would deep-copy every decoded value first
    return ItemView(**{name: getattr(item, name) for name in _FIELDS})


def loop_counts(log: RunLog, step: StepRecord, running: LoopCounts | None = None) -> dict[str, int]:
    """A loop's items by status. A finished loop's summary has them (the engine and the
    Temporal workers write it from the items as recorded); counting a million rows takes
    a second, so only a loop still running, or a summary that does not add up, is
    counted: by `running` when given, which counts again only the items that can still
    change (runlog_items_counts.py), else every row."""
    summary = step.summary or {}
    numbers = [summary.get(k) for k in ("total", *_COUNTED)]
    if step.status != "running" and all(type(n) is int for n in numbers):
        total, *counted = (int(n) for n in numbers if n is not None)
        if sum(counted) == total:
            if running is not None:
                running.forget(step.run_id, step.step_id)
            return {k: n for k, n in zip(_COUNTED, counted, strict=True) if n}
    if running is None:
        return log.item_counts(step.run_id, step.step_id)
    return running.counts(log, step.run_id, step.step_id)


def item_page(
    log: RunLog,
    run_id: str,
    step_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    counts: dict[str, int] | None = None,
) -> ItemPage:
    """The page of loop step `step_id`'s items that `cursor` (the query parameter) points
    at: the first page, the page after an item, or the page before one; `counts`
    are the loop's (`loop_counts`; None: counted here)."""
    position = item_position(cursor, "cursor")
    backwards, index = position if position is not None else (False, -1)
    if backwards:
        # the `limit` items before `index`; one more, found, says a page precedes them
        back = indices_before(log, run_id, step_id, index, limit + 1, status=status)
        if not back:  # nothing before it: the first page
            return item_page(log, run_id, step_id, limit=limit, status=status, counts=counts)
        start = back[limit] if len(back) > limit else -1
        size = min(len(back), limit)
        page = list(log.items(run_id, step_id, status=status, after=start, limit=size))
        more_before = len(back) > limit
        more_after = bool(page) and any(
            log.items(run_id, step_id, status=status, after=page[-1].index, limit=1)
        )
    else:
        found = list(log.items(run_id, step_id, status=status, after=index, limit=limit + 1))
        page, more_after = found[:limit], len(found) > limit
        first = page[0].index if page else index + 1
        more_before = index >= 0 and bool(
            indices_before(log, run_id, step_id, first, 1, status=status)
        )
    return ItemPage(
        items=[_view(i) for i in page],
        next_cursor=after_item(page[-1].index) if more_after and page else None,
        prev_cursor=before_item(page[0].index if page else index + 1) if more_before else None,
        counts=log.item_counts(run_id, step_id) if counts is None else counts,
    )


def paged_output(value: Any, run_id: str, inline: int) -> tuple[Any, list[OutputItems]]:
    """A run's `value` (its output) with each loop's items in it inlined when there are at
    most `inline` of them, else null and described by an `OutputItems` (read page by page
    at its URL): so a run of a million items answers in the memory of a page."""
    plain, refs = split_refs(value)  # loop items replaced by null, in a copy of the path
    listed: list[OutputItems] = []
    for path, step_id, count in refs or []:
        if count > inline:
            url = items_url(run_id, step_id)
            listed.append(OutputItems(path=path, step_id=step_id, count=count, items_url=url))
            continue
        items = value
        for key in path:
            items = items[key]
        if not path:
            return list(items), []
        holder = plain
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = list(items)
    return plain, listed
