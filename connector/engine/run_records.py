"""What the run log holds: its tables (SQL) and their rows as records (a run, one of its
steps, one loop item); write intents live in intents.py."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from connector.engine.attempt_journal import ATTEMPTS_SCHEMA
from connector.engine.intents import INTENTS_SCHEMA
from connector.engine.trigger_log import TRIGGERS_SCHEMA

__all__ = ["MIGRATIONS", "ItemRecord", "RunRecord", "StepRecord", "process_gone"]

#: version 1: the tables of the first release (runs, steps, loop items)
_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    workflow_json TEXT NOT NULL,
    source_path TEXT,
    trigger_json TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    parent_run_id TEXT REFERENCES runs(id),
    failed_step TEXT,
    error_json TEXT,
    output_json TEXT,
    pid INTEGER,
    host TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL,
    finished_at REAL,
    definition_json TEXT NOT NULL,
    inputs_json TEXT,
    output_json TEXT,
    error_json TEXT,
    attempts_json TEXT,
    summary_json TEXT,
    reused_from TEXT,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS loop_items (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    item_json TEXT,
    inputs_json TEXT,
    output_json TEXT,
    error_json TEXT,
    attempts_json TEXT,
    started_at REAL,
    finished_at REAL,
    reused_from TEXT,
    PRIMARY KEY (run_id, step_id, idx)
);
"""
#: version 2: a run's one retry is claimed (retries); writes are recorded before sent
_V2 = """
CREATE TABLE IF NOT EXISTS retries (
    parent_run_id TEXT PRIMARY KEY,
    child_run_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""
_V2 += INTENTS_SCHEMA
# A run retried before claims existed: its first child holds the claim.
_V2 += """
INSERT INTO retries (parent_run_id, child_run_id, created_at)
SELECT r.parent_run_id, r.id, r.started_at FROM runs r
WHERE r.parent_run_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM runs o WHERE o.parent_run_id = r.parent_run_id AND o.started_at < r.started_at
) ON CONFLICT DO NOTHING;
"""

#: version 3: a loop's items are stored once, as its item rows: an output holding them keeps
#: null in their place and a reference (loop_items.py); a retry names the run holding its
#: workflow snapshot and trigger payload when they are the same, instead of copying them
_V3 = """
ALTER TABLE runs ADD COLUMN output_refs_json TEXT;
ALTER TABLE steps ADD COLUMN output_refs_json TEXT;
ALTER TABLE runs ADD COLUMN workflow_from TEXT;
ALTER TABLE runs ADD COLUMN trigger_from TEXT;
"""

#: version 4: the service's triggers and their events (trigger_log.py)
_V4 = TRIGGERS_SCHEMA

#: version 5: a cancel any process may ask for (run_cancel.py), and each call's attempts
#: journaled as they are made, so a run resumed on another worker continues its attempt
#: count (attempt_journal.py)
_V5 = """
ALTER TABLE runs ADD COLUMN cancel_requested_at REAL;
"""
_V5 += ATTEMPTS_SCHEMA

#: MIGRATIONS[v] brings a run log at schema version v to v + 1 (runlog_migrate.py)
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)


def process_gone(pid: int | None, host: str | None) -> bool:
    """Whether the process that recorded a run (`pid` on `host`) is known to be gone:
    only a process on this host can be checked."""
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class RunRecord:
    id: str
    workflow_name: str
    workflow: dict[str, Any]
    source_path: str | None
    trigger: Any
    status: str
    started_at: float
    finished_at: float | None
    parent_run_id: str | None
    failed_step: str | None
    error: dict[str, Any] | None
    output: Any
    pid: int | None
    host: str | None

    @property
    def interrupted(self) -> bool:
        """A `running` run whose process is gone (killed or crashed)."""
        return self.status == "running" and process_gone(self.pid, self.host)

    @property
    def display_status(self) -> str:
        return "interrupted" if self.interrupted else self.status


@dataclass
class StepRecord:
    run_id: str
    step_id: str
    position: int
    kind: str
    status: str
    started_at: float | None
    finished_at: float | None
    definition: dict[str, Any]
    inputs: Any
    output: Any
    error: dict[str, Any] | None
    attempts: list[dict[str, Any]]
    summary: dict[str, Any] | None
    reused_from: str | None


@dataclass
class ItemRecord:
    step_id: str
    index: int
    status: str
    item: Any
    inputs: Any
    output: Any
    error: dict[str, Any] | None
    attempts: list[dict[str, Any]]
    started_at: float | None
    finished_at: float | None
    reused_from: str | None
