"""What a retry run may take over from its parent: succeeded steps and loop items.

A step is reused only if it succeeded, its definition is unchanged, and every step before
it was reused too (so its inputs cannot have changed). A loop item is reused when the same
index holds the same item; a multi-step item also hands over the sub-steps that succeeded,
so a retry never repeats a write that already landed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.engine.runlog import RunLog, StepRecord, StoredItem
from connector.redact import dumps_redacted

__all__ = ["ReusePlan"]


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@dataclass
class ReusePlan:
    parent_run_id: str
    runlog: RunLog
    steps: dict[str, StepRecord] = field(default_factory=dict)
    #: becomes False at the first step that is not reused
    chain_intact: bool = True
    #: a retry of chosen loop items only: (step id, index) of those re-run; every other
    #: item of the parent is carried over as it was (None: every item that did not succeed)
    only: frozenset[tuple[str, int]] | None = None

    def held(self, step_id: str, index: int) -> bool:
        """True when item `index` of loop `step_id` is carried over even though it did not
        succeed (it was not chosen)."""
        return self.only is not None and (step_id, index) not in self.only

    @classmethod
    def from_run(cls, runlog: RunLog, run_id: str) -> ReusePlan:
        # Outputs are read for the steps that are reused only: a loop's holds every item.
        steps = runlog.steps(run_id, outputs=False)
        return cls(run_id, runlog, {s.step_id: s for s in steps})

    def reusable_step(self, step_id: str, definition: dict[str, Any]) -> StepRecord | None:
        record = self.steps.get(step_id)
        ok = (
            self.chain_intact
            and record is not None
            and record.status == "succeeded"
            and _same(record.definition, definition)
        )
        if not ok:
            self.chain_intact = False
            return None
        assert record is not None
        record.output = self.runlog.step_output(self.parent_run_id, step_id)
        return record

    def reusable_item_pages(
        self, step_id: str, definition: dict[str, Any], items: Sequence[Any]
    ) -> Iterator[list[StoredItem]]:
        """Items of a loop that ran before with the same definition and inputs, a page at a
        time in index order: the succeeded ones, failed ones with sub-step outputs, and
        (retrying chosen items) every item not chosen.

        The parent's items are read page by page (a keyset query each, so the memory held
        is a page's) and compared as stored text first: only an item whose text differs is
        decoded to compare as a value."""
        record = self.steps.get(step_id)
        # The loop itself is re-entered, so later steps can no longer be reused.
        self.chain_intact = False
        if record is None or not _same(record.definition, definition):
            return
        for page in self.runlog.stored_item_pages(self.parent_run_id, step_id):
            found = [
                item
                for item in page
                if item.index < len(items)
                and (
                    item.status == "succeeded"
                    or (item.status == "failed" and item.output)
                    or self.held(step_id, item.index)
                )
                and _same_item(item, items[item.index])
            ]
            if found:
                yield found

    def reusable_items(
        self, step_id: str, definition: dict[str, Any], items: Sequence[Any]
    ) -> dict[int, StoredItem]:
        """`reusable_item_pages` by index, in one dict (for a few items)."""
        pages = self.reusable_item_pages(step_id, definition, items)
        return {item.index: item for page in pages for item in page}


def _same_item(stored: StoredItem, item: Any) -> bool:
    if stored.item_json is not None and stored.item_json == dumps_redacted(item):
        return True
    return _same(None if stored.item_json is None else json.loads(stored.item_json), item)
