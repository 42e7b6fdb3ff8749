"""`connector runs cancel RUN [--runlog URL]`: ask a running run to stop, from any process.

The request is recorded in the run log (engine/run_cancel.py); the process running the run
(an embedded `connector run`, the service, or Temporal workers) reads it between items,
lets what is in flight finish and be recorded, and ends the run `cancelled`, retryable with
`connector runs retry`. Exit codes: 0 the cancel was recorded, 1 the run is not running
(its status is named), 2 no such run or no usable run log.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["cancel"]


def cancel(target: Path | str, run_id: str, *, as_json: bool = False) -> int:
    """Record the cancel of `run_id` in the run log at `target` and say so."""
    from connector.api import cancel_run  # when it runs: `--help` loads no engine

    request = cancel_run(run_id, runlog=target)
    if as_json:
        print(json.dumps({"run_id": run_id, "status": "cancelling",
                          "requested_at": request.requested_at}))  # fmt: skip
    else:
        print(
            f"cancel requested for run {run_id}: it stops after the items in flight and ends "
            f"cancelled (retry it with `connector runs retry {run_id}`)"
        )
    return 0
