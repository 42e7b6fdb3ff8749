"""Run-log records as the API and the console show them (one reading for both)."""

from __future__ import annotations

from typing import NamedTuple

from connector.engine.runlog import RunLog, RunRecord, StepRecord
from connector.engine.runlog_items_counts import LoopCounts
from connector.service.cursors import bad_cursor, decode, encode
from connector.service.item_pages import item_page, items_url, loop_counts, paged_output
from connector.service.models import RunSummary, RunView, StepView
from connector.service.trigger_views import TriggerShapes, trigger_url

__all__ = ["LoopPage", "run_page", "run_summary", "run_view"]

#: runs read to find a page of `GET /v1/runs` (the run log lists newest first)
MAX_SCAN = 100_000


def run_summary(run: RunRecord) -> RunSummary:
    return RunSummary(
        run_id=run.id,
        workflow=run.workflow_name,
        status=run.display_status,  # type: ignore[arg-type]
        started_at=run.started_at,
        finished_at=run.finished_at,
        parent_run_id=run.parent_run_id,
        failed_step=run.failed_step,
    )


def run_page(
    log: RunLog,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
    workflow: str | None = None,
    parent_run_id: str | None = None,
) -> tuple[list[RunSummary], str | None]:
    """A page of runs, newest first, optionally only those of one workflow (by name) or
    retrying one run; the cursor is the last run shown (stable when runs are added
    meanwhile: they come before it)."""
    after = decode(cursor, "cursor")
    # Read as far back as the page needs, not the whole log: the first page of a log of
    # thousands of runs reads `limit + 1` of them (filters by name or parent read more).
    wanted = limit + 1 if workflow is None and parent_run_id is None else MAX_SCAN
    while True:
        runs = log.list_runs(status=status, limit=wanted, trigger=False)
        short = len(runs) < wanted
        if workflow is not None:
            runs = [r for r in runs if r.workflow_name == workflow]
        if parent_run_id is not None:
            runs = [r for r in runs if r.parent_run_id == parent_run_id]
        ids = [r.id for r in runs]
        if after is None or short or (after in ids and len(ids) - ids.index(after) - 1 > limit):
            break
        if wanted >= MAX_SCAN:
            break
        wanted = min(MAX_SCAN, wanted * 4)
    if after is not None:
        if after not in ids:
            raise bad_cursor("cursor", "that run is no longer listed; start again")
        runs = runs[ids.index(after) + 1 :]
    page = runs[:limit]
    more = len(runs) > limit
    return [run_summary(r) for r in page], encode(page[-1].id) if more and page else None


class LoopPage(NamedTuple):
    """Which page of one loop's items to show instead of its first."""

    step_id: str
    cursor: str | None = None
    #: only the items with this status
    status: str | None = None


def step_view(
    log: RunLog,
    step: StepRecord,
    items_limit: int,
    paged: LoopPage | None = None,
    running: LoopCounts | None = None,
) -> StepView:
    """A step as shown; a loop with its first page of items (or, when `paged` names it,
    that page), its counts and where to page on."""
    items = url = None
    output = None  # a loop's output is its items
    if step.kind == "loop":
        page = paged if paged is not None and paged.step_id == step.step_id else None
        items = item_page(
            log,
            step.run_id,
            step.step_id,
            limit=items_limit,
            cursor=page.cursor if page else None,
            status=page.status if page else None,
            counts=loop_counts(log, step, running),
        )
        url = items_url(step.run_id, step.step_id)
    else:
        output = log.step_output(step.run_id, step.step_id)
    return StepView(
        step_id=step.step_id,
        kind=step.kind,
        status=step.status,
        started_at=step.started_at,
        finished_at=step.finished_at,
        inputs=step.inputs,
        output=output,
        error=step.error,
        attempts=step.attempts,
        summary=step.summary,
        reused_from=step.reused_from,
        items=items,
        items_url=url,
    )


def run_view(
    log: RunLog,
    run_id: str,
    *,
    items_limit: int = 100,
    paged: LoopPage | None = None,
    running: LoopCounts | None = None,
    triggers: TriggerShapes | None = None,
) -> RunView:
    """A run as shown: each loop's first page of `items_limit` items (the console passes
    `paged` to show another page of one loop), and its output
    with a loop's items inlined only when they fit in a page; its trigger payload whole
    when small, else its shape. `running` and `triggers` keep, across views, the counts of
    running loops' blocks that can no longer change and which payloads are big (the
    service's; None: nothing kept)."""
    run, shape = (triggers or TriggerShapes()).run(log, run_id)
    output, output_items = paged_output(run.output, run.id, items_limit)
    return RunView(
        **run_summary(run).model_dump(),
        trigger=run.trigger,
        trigger_summary=shape,
        trigger_url=trigger_url(run.id),
        output=output,
        output_items=output_items,
        error=run.error,
        # outputs read one step at a time, and not a loop's (read as pages of items)
        steps=[
            step_view(log, s, items_limit, paged, running) for s in log.steps(run.id, outputs=False)
        ],
    )
