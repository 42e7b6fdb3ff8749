"""One-click retry: a new run, linked to the old one, that re-runs only what did not succeed.

It starts from the old run's workflow snapshot (or the file's current version with
`current=True`) and trigger, reuses the outputs of succeeded steps and loop items, and runs
the failed and never-run ones. A run cut off by a crash (still `running`) is retried the same
way.
"""

from __future__ import annotations

from pathlib import Path

from connector.engine.executor import Engine, RunResult
from connector.engine.reuse import ReusePlan
from connector.engine.workflow import Workflow, load_workflow, validate_workflow
from connector.errors import InvalidConfiguration

__all__ = ["retry_run", "workflow_for_retry"]


def workflow_for_retry(engine: Engine, run_id: str, *, current: bool = False) -> Workflow:
    parent = engine.runlog.get_run(run_id)
    if parent.status == "succeeded":
        raise InvalidConfiguration(f"run {run_id} succeeded; there is nothing to retry")
    if current:
        if not parent.source_path:
            raise InvalidConfiguration(
                f"run {run_id} has no source file to take the current version from"
            )
        return load_workflow(Path(parent.source_path), engine.catalog)
    return validate_workflow(parent.workflow, engine.catalog, source=parent.source_path)


async def retry_run(engine: Engine, run_id: str, *, current: bool = False) -> RunResult:
    """Retry run `run_id`; returns the new run's result."""
    workflow = workflow_for_retry(engine, run_id, current=current)
    parent = engine.runlog.get_run(run_id)
    plan = ReusePlan.from_run(engine.runlog, run_id)
    return await engine.run(workflow, parent.trigger, parent_run_id=run_id, reuse=plan)
