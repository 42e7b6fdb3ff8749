"""`connector runs cancel RUN [--runlog URL]`: ask a running run to stop, from any process.

The request is recorded in the run log (engine/run_cancel.py); the process running the run
(an embedded `connector run`, the service, or Temporal workers) reads it between items,
lets what is in flight finish and be recorded, and ends the run `cancelled`, retryable with
`connector runs retry`. Exit codes: 0 the cancel was recorded, 1 the run is not running
(its status is named), 2 no such run or no usable run log.

A run running on Temporal is first checked with Temporal when an address is configured
(temporal_runs.py): an execution Temporal closed itself is recorded (the run is failed or
cancelled, exit 1), since no worker would read the request.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["cancel"]


def cancel(
    target: Path | str,
    run_id: str,
    *,
    as_json: bool = False,
    args: argparse.Namespace | None = None,
) -> int:
    """Record the cancel of `run_id` in the run log at `target` and say so; with `args`, a
    run held by Temporal is checked with the Temporal server they name first."""
    from connector.api import cancel_run  # when it runs: `--help` loads no engine

    unknown = False
    if args is not None and not (isinstance(target, Path) and not target.exists()):
        from connector.cli.temporal_runs import check_runs, held_by_temporal
        from connector.engine.runlog import RunLog

        with RunLog(target, readonly=True) as log:
            held = held_by_temporal(log, [run_id])
        unknown = bool(held) and run_id not in (check_runs(args, target, held, strict=False) or {})
    request = cancel_run(run_id, runlog=target)
    if unknown:
        from connector.cli.temporal_runs import unknown_note

        print(f"{unknown_note(run_id)}; if it has, this cancel has no effect", file=sys.stderr)
    if as_json:
        print(json.dumps({"run_id": run_id, "status": "cancelling",
                          "requested_at": request.requested_at}))  # fmt: skip
    else:
        print(
            f"cancel requested for run {run_id}: it stops after the items in flight and ends "
            f"cancelled (retry it with `connector runs retry {run_id}`)"
        )
    return 0
