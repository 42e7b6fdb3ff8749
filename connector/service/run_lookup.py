"""A run's record read for a request: a 404 problem when there is none."""

from __future__ import annotations

from connector.engine.runlog import RunLog, RunRecord
from connector.errors import InvalidConfiguration
from connector.service.problems import ServiceProblem

__all__ = ["get_run"]


def get_run(
    log: RunLog, run_id: str, *, trigger_json: bool = False, trigger: bool = True
) -> RunRecord:
    """`RunLog.get_run` (its `trigger_json` and `trigger` too), or a 404."""
    try:
        return log.get_run(run_id, trigger_json=trigger_json, trigger=trigger)
    except InvalidConfiguration:
        raise ServiceProblem(404, f"no run with id {run_id!r}") from None
