"""What the Temporal workflow and its activities pass each other: small values only.

Standard library only, so the workflow sandbox can import it. Nothing here holds an item's
output: outputs live in the run log, and every payload stays a few hundred bytes however
many items a loop has (Temporal refuses payloads over 2 MB and histories over 50 MB).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TASK_QUEUE",
    "ItemsCall",
    "ItemsDone",
    "LoopCursor",
    "LoopStart",
    "Progress",
    "RunEnd",
    "RunPlan",
    "RunRequest",
    "StepCall",
    "StepDone",
    "Tuning",
]

#: the task queue workers poll and runs are sent to, unless told otherwise
TASK_QUEUE = "connector"


@dataclass
class Tuning:
    """How a run is cut into activities (ARCHITECTURE.md, "Runs on Temporal")."""

    #: loop items run by one activity, which heartbeats as they finish
    items_per_activity: int = 100
    #: activities of one loop in flight at once, spread over the workers
    activities_in_flight: int = 8
    #: activities one workflow execution schedules before it continues as new (history size)
    activities_per_execution: int = 400
    #: seconds without a heartbeat before Temporal gives an activity to another worker
    heartbeat_timeout: float = 30.0


@dataclass
class RunRequest:
    """A run to start (or, with `parent_run_id`, a retry), and where it stands when a
    workflow execution continues as new."""

    run_id: str
    #: the validated workflow document; None for a retry (the parent's snapshot is used)
    workflow: dict[str, Any] | None
    source: str | None
    trigger: Any
    parent_run_id: str | None = None
    current: bool = False
    resolve: dict[str, str] = field(default_factory=dict)
    max_wait: float | None = None
    tuning: Tuning = field(default_factory=Tuning)
    progress: Progress | None = None


@dataclass
class LoopCursor:
    """A loop under way: its item count, the next item to hand out, and whether a failed
    item stopped it (`on_item_error: stop`)."""

    total: int
    next: int = 0
    stop_on_error: bool = False
    stopped: bool = False


@dataclass
class Progress:
    #: (step id, kind) of every top-level step
    steps: list[list[str]]
    position: int = 0
    #: every step so far was reused from the parent run (retries only)
    chain_intact: bool = False
    loop: LoopCursor | None = None
    #: workflow executions this run has used so far (continue-as-new)
    executions: int = 1


@dataclass
class RunPlan:
    steps: list[list[str]]
    reusing: bool


@dataclass
class StepCall:
    """Which step of which run an activity works on, and what the run was started with."""

    run_id: str
    position: int
    chain_intact: bool = False
    parent_run_id: str | None = None
    resolve: dict[str, str] = field(default_factory=dict)
    max_wait: float | None = None


@dataclass
class StepDone:
    status: str  # succeeded | reused | failed
    error: dict[str, Any] | None = None
    #: the next step may still be reused
    chain_intact: bool = False


@dataclass
class LoopStart:
    status: str  # run | reused | failed
    total: int = 0
    stop_on_error: bool = False
    error: dict[str, Any] | None = None


@dataclass
class ItemsCall:
    step: StepCall
    start: int
    stop: int


@dataclass
class ItemsDone:
    ran: int
    failed: int
    #: items already in the run log (finished before a worker was lost), not run again
    skipped: int
    #: the run was cancelled (run_cancel.py): the range stopped, and no other should start
    cancelled: bool = False


@dataclass
class RunEnd:
    """How the run ended: its output stays in the run log."""

    run_id: str
    status: str
    failed_step: str | None = None
    error: dict[str, Any] | None = None
    executions: int = 1
