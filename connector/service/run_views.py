"""Run-log records as the API and the console show them (one reading for both)."""

from __future__ import annotations

import base64
import binascii
import itertools
from dataclasses import asdict

from connector.engine.runlog import RunLog, RunRecord, StepRecord
from connector.errors import InvalidConfiguration
from connector.lazy_array import materialised
from connector.service.models import ItemPage, ItemView, RunSummary, RunView, StepView
from connector.service.problems import ServiceProblem

__all__ = ["get_run", "item_page", "run_page", "run_summary", "run_view"]

#: runs read to find a page of `GET /v1/runs` (the run log lists newest first)
MAX_SCAN = 100_000


def get_run(log: RunLog, run_id: str) -> RunRecord:
    try:
        return log.get_run(run_id)
    except InvalidConfiguration:
        raise ServiceProblem(404, f"no run with id {run_id!r}") from None


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


def _cursor(text: str | None, what: str) -> str | None:
    if text is None:
        return None
    try:
        return base64.urlsafe_b64decode(text.encode() + b"==").decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise ServiceProblem(422, f"{what}: not a cursor this service gave out") from None


def _encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


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
    after = _cursor(cursor, "cursor")
    # Read as far back as the page needs, not the whole log: the first page of a log of
    # thousands of runs reads `limit + 1` of them (filters by name or parent read more).
    wanted = limit + 1 if workflow is None and parent_run_id is None else MAX_SCAN
    while True:
        runs = log.list_runs(status=status, limit=wanted)
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
            raise ServiceProblem(422, "cursor: that run is no longer listed; start again")
        runs = runs[ids.index(after) + 1 :]
    page = runs[:limit]
    more = len(runs) > limit
    return [run_summary(r) for r in page], _encode(page[-1].id) if more and page else None


def item_page(
    log: RunLog,
    run_id: str,
    step_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
) -> ItemPage:
    after = _cursor(cursor, "cursor")
    start = -1
    if after is not None:
        try:
            start = int(after)
        except ValueError:
            raise ServiceProblem(422, "cursor: not a cursor this service gave out") from None
    rows = (i for i in log.items(run_id, step_id, status=status) if i.index > start)
    chosen = list(itertools.islice(rows, limit + 1))
    page, more = chosen[:limit], len(chosen) > limit
    return ItemPage(
        items=[ItemView(**{k: v for k, v in asdict(i).items() if k != "step_id"}) for i in page],
        next_cursor=_encode(str(page[-1].index)) if more and page else None,
        counts=log.item_counts(run_id, step_id),
    )


def step_view(log: RunLog, step: StepRecord, items_limit: int) -> StepView:
    items = None
    if step.kind == "loop":
        items = item_page(log, step.run_id, step.step_id, limit=items_limit)
    return StepView(
        step_id=step.step_id,
        kind=step.kind,
        status=step.status,
        started_at=step.started_at,
        finished_at=step.finished_at,
        inputs=step.inputs,
        output=None if step.kind == "loop" else step.output,  # a loop's output is its items
        error=step.error,
        attempts=step.attempts,
        summary=step.summary,
        reused_from=step.reused_from,
        items=items,
    )


def run_view(log: RunLog, run_id: str, *, items_limit: int = 100) -> RunView:
    run = get_run(log, run_id)
    return RunView(
        **run_summary(run).model_dump(),
        trigger=run.trigger,
        output=materialised(run.output, "output"),  # a loop's items, read from the log
        error=run.error,
        steps=[step_view(log, s, items_limit) for s in log.steps(run.id)],
    )
