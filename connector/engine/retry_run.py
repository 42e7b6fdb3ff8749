"""One-click retry: a new run, linked to the old one, that re-runs only what did not succeed.

It starts from the old run's workflow snapshot (or the file's current version with
`current=True`) and trigger, reuses the outputs of succeeded steps and loop items, and runs
the failed and never-run ones. A run cut off by a crash (still `running`, its process gone)
is retried the same way.

A run is retried into at most one child: the claim is taken with the child's row in one
transaction, so of two retries at once exactly one runs, and a second retry (at once, or
after the first finished) raises `AlreadyRetried` naming the child. Retrying the child
continues the lineage; writes whose outcome is unknown are checked before anything is sent,
or settled by the user with `resolve` (see writes.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from connector.engine.executor import Engine, RunResult
from connector.engine.reuse import ReusePlan
from connector.engine.workflow import Workflow, load_workflow, validate_workflow
from connector.engine.writes import parse_resolutions
from connector.errors import AlreadyRetried, InvalidConfiguration, InvalidInput

__all__ = ["check_items", "check_resolutions", "retry_run", "workflow_for_retry"]

#: an item's label: its loop step's id and its index
_ITEM = re.compile(r"(.+)\[(\d{1,9})\]")


def workflow_for_retry(
    engine: Engine, run_id: str, *, current: bool = False, workflow: Workflow | None = None
) -> Workflow:
    """The workflow a retry of `run_id` would run (`workflow` when given: a caller's own
    current version); raises if the run cannot be retried."""
    log = engine.runlog
    parent = log.get_run(run_id)
    child = log.child_of(run_id)
    if child is not None:
        status = log.get_run(child).display_status
        raise AlreadyRetried(
            f"run {run_id} was already retried as run {child} ({status});"
            f" a run is retried once: follow it with `connector runs retry {run_id} --follow`,"
            f" or retry run {child} to continue",
            child_run_id=child,
        )
    if parent.status == "succeeded":
        raise InvalidConfiguration(f"run {run_id} succeeded; there is nothing to retry")
    if parent.status == "running" and not parent.interrupted:
        # A run on Temporal names no process once a worker has begun it (temporal/run_start).
        held = f"process {parent.pid} on {parent.host}" if parent.pid else "on Temporal workers"
        raise InvalidConfiguration(
            f"run {run_id} is still running ({held}); retry it once it has ended"
        )
    if workflow is not None:
        return workflow
    if current:
        if not parent.source_path:
            raise InvalidConfiguration(
                f"run {run_id} has no source file to take the current version from"
            )
        return load_workflow(Path(parent.source_path), engine.catalog)
    return validate_workflow(parent.workflow, engine.catalog, source=parent.source_path)


def check_resolutions(
    engine: Engine, run_id: str, resolve: Mapping[str, str] | list[str] | None
) -> dict[str, str]:
    """`resolve` parsed, each naming a write of the lineage whose outcome is unknown."""
    wanted = parse_resolutions(resolve)
    if not wanted:
        return {}
    lineage = engine.runlog.lineage_of(run_id)
    open_writes = engine.runlog.intents.open_in(lineage)
    labels = {w.label for w in open_writes} | {w.item_label for w in open_writes}
    for label in wanted:
        if label not in labels:
            known = ", ".join(sorted({w.item_label for w in open_writes})) or "none"
            raise InvalidInput(
                f"{label}: no write with an unknown outcome there in run {run_id}'s lineage "
                f"(open writes: {known})",
                where="--resolve",
            )
    return wanted


def check_items(
    engine: Engine, run_id: str, items: list[str] | None
) -> frozenset[tuple[str, int]] | None:
    """`items` ("step[3]") parsed, each naming a loop item of `run_id` that did not succeed."""
    if items is None:
        return None
    if not items:
        raise InvalidInput("name at least one item to retry, e.g. each[3]", where="items")
    log = engine.runlog
    loops = {s.step_id for s in log.steps(run_id, outputs=False) if s.kind == "loop"}
    chosen: dict[str, set[int]] = {}
    for label in items:
        match = _ITEM.fullmatch(label)
        if match is None:
            raise InvalidInput(f"{label[:80]!r} is not an item label like each[3]", where="items")
        if match[1] not in loops:
            known = ", ".join(sorted(loops)) or "none"
            raise InvalidInput(
                f"{label}: run {run_id} has no loop step {match[1]!r} (loops: {known})",
                where="items",
            )
        chosen.setdefault(match[1], set()).add(int(match[2]))
    for step_id, indexes in chosen.items():
        found = {i.index: i.status for i in log.items(run_id, step_id) if i.index in indexes}
        for index in sorted(indexes):
            state = found.get(index)
            if state is None or state == "succeeded":
                what = "succeeded" if state else "does not exist"
                raise InvalidInput(
                    f"{step_id}[{index}] {what} in run {run_id}; only items that did not "
                    "succeed are retried",
                    where="items",
                )
    return frozenset((step, index) for step, indexes in chosen.items() for index in indexes)


async def retry_run(
    engine: Engine,
    run_id: str,
    *,
    current: bool = False,
    resolve: Mapping[str, str] | list[str] | None = None,
    items: list[str] | None = None,
    workflow: Workflow | None = None,
) -> RunResult:
    """Retry run `run_id`; returns the new run's result.

    `resolve` settles writes whose outcome is unknown, by item: `{"each[3]": "applied"}`
    (taken as done, not sent) or `"not-applied"` (sent again). `items` ("each[3]") re-runs
    only those loop items; every other item is carried over as it was. `workflow` replaces
    the run's snapshot (a newer version of it).
    """
    workflow = workflow_for_retry(engine, run_id, current=current, workflow=workflow)
    resolutions = check_resolutions(engine, run_id, resolve)
    only = check_items(engine, run_id, items)
    parent = engine.runlog.get_run(run_id)
    plan = ReusePlan.from_run(engine.runlog, run_id)
    plan.only = only
    return await engine.run(
        workflow, parent.trigger, parent_run_id=run_id, reuse=plan, resolve=resolutions
    )
