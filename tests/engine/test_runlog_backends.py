"""The run log on either backend: schema versions migrated forward on open (a log written
by the first release, before versions and retry claims, included), a log from a newer
release refused, and a PostgreSQL log that cannot be reached or named refused with one
line (exit 2) that never shows its password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from connector.engine.runlog import RunLog
from connector.engine.runlog_migrate import SCHEMA_VERSION, schema_version
from connector.engine.runlog_store import open_store
from connector.errors import AlreadyRetried, RunLogError

ROOT = Path(__file__).resolve().parents[2]

#: The tables as the first release (commit b06a952) created them, frozen here: that
#: release wrote no schema version, no retry claims and no write intents.
FIRST_RELEASE_SCHEMA = """
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

WORKFLOW = {"name": "old", "steps": [{"id": "each", "loop": {"over": "{{ trigger.keys }}"}}]}


def _first_release_log(target: Path | str) -> None:
    """A log as the first release left it: a failed run retried once, and an older failed
    run never retried, with their steps and loop items."""
    store = open_store(target)
    store.script(FIRST_RELEASE_SCHEMA)
    run = (
        "INSERT INTO runs (id, workflow_name, workflow_json, source_path, trigger_json, status,"
        " started_at, finished_at, parent_run_id, failed_step, error_json, pid, host)"
        " VALUES (?, 'old', ?, NULL, ?, ?, ?, ?, ?, ?, ?, 4242, 'gone-host')"
    )
    flow, trigger = json.dumps(WORKFLOW), json.dumps({"keys": ["a", "b"]})
    failed = json.dumps({"kind": "server", "message": "HTTP 503"})
    store.execute(run, ("r-parent", flow, trigger, "failed", 10.0, 11.0, None, "each", failed))
    store.execute(run, ("r-child", flow, trigger, "succeeded", 20.0, 21.0, "r-parent", None, None))
    store.execute(run, ("r-lone", flow, trigger, "failed", 5.0, 6.0, None, "each", failed))
    store.execute(
        "INSERT INTO steps (run_id, step_id, position, kind, status, started_at, finished_at,"
        " definition_json, attempts_json, summary_json) VALUES"
        " ('r-parent', 'each', 0, 'loop', 'failed', 10.0, 11.0, ?, '[]', ?)",
        (json.dumps(WORKFLOW["steps"][0]), json.dumps({"succeeded": 1, "failed": 1})),
    )
    for idx, status in ((0, "succeeded"), (1, "failed")):
        store.execute(
            "INSERT INTO loop_items (run_id, step_id, idx, status, item_json, output_json,"
            " attempts_json) VALUES ('r-parent', 'each', ?, ?, ?, ?, '[]')",
            (idx, status, json.dumps("ab"[idx]), json.dumps({"ok": idx})),
        )
    store.close()


def test_a_first_release_log_is_migrated_and_reads_and_retries_as_before(
    runlog_target: Path | str,
) -> None:
    _first_release_log(runlog_target)
    store = open_store(runlog_target)
    assert schema_version(store) == 1
    store.close()

    with RunLog(runlog_target) as log:
        assert schema_version(log.store) == SCHEMA_VERSION
        assert {"retries", "intents", "schema_version"} <= log.store.table_names()
        assert [r.id for r in log.list_runs()] == ["r-child", "r-parent", "r-lone"]
        assert log.get_run("r-parent").error == {"kind": "server", "message": "HTTP 503"}
        assert [(i.index, i.status) for i in log.items("r-parent", "each")] == [
            (0, "succeeded"),
            (1, "failed"),
        ]
        assert log.item_counts("r-parent", "each") == {"succeeded": 1, "failed": 1}
        # The retry the first release made holds the claim: a second one is refused.
        assert log.child_of("r-parent") == "r-child"
        assert log.lineage_of("r-child") == "r-parent"
        with pytest.raises(AlreadyRetried, match="already retried as run r-child"):
            log.create_run(
                workflow=WORKFLOW, trigger={}, source_path=None,
                parent_run_id="r-parent", started_at=30.0,
            )  # fmt: skip
        # A run never retried is retried once, under the new claim.
        child = log.create_run(
            workflow=WORKFLOW, trigger={}, source_path=None, parent_run_id="r-lone", started_at=31.0
        )
        assert log.child_of("r-lone") == child

    with RunLog(runlog_target) as again:  # opening a current log changes nothing
        assert schema_version(again.store) == SCHEMA_VERSION
        rows = again.store.execute("SELECT version FROM schema_version").fetchall()
        assert [tuple(r) for r in rows] == [(SCHEMA_VERSION,)]


def test_reading_a_first_release_file_leaves_it_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    _first_release_log(db)
    before = db.read_bytes()
    with RunLog(db, readonly=True) as log:  # `runs list` / `runs show` only read
        assert [r.id for r in log.list_runs()] == ["r-child", "r-parent", "r-lone"]
        assert log.child_of("r-parent") == "r-child"
        assert log.intents.of_lineage("r-parent") == []
    assert db.read_bytes() == before


def test_a_log_from_a_newer_release_is_refused(runlog_target: Path | str) -> None:
    RunLog(runlog_target).close()
    store = open_store(runlog_target)
    store.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION + 1,))
    store.close()
    with pytest.raises(RunLogError, match=f"schema version {SCHEMA_VERSION + 1}, newer") as err:
        RunLog(runlog_target)
    assert "upgrade connector" in str(err.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_runs_list_on_postgresql_by_option_and_by_environment(pg_server) -> None:
    url = pg_server.database_url()
    with RunLog(url) as log:
        run_id = log.create_run(
            workflow=WORKFLOW, trigger={}, source_path=None, parent_run_id=None, started_at=1.0
        )
    listed = _cli("runs", "list", "--json", "--runlog", url)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
    shown = subprocess.run(
        [sys.executable, "-m", "connector", "runs", "show", run_id, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CONNECTOR_RUNLOG": url},
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == run_id


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://someone:pw-9f3c1a77@127.0.0.1:1/runs", "the run log cannot be reached"),
        ("mysql://someone:pw-9f3c1a77@127.0.0.1/runs", "unsupported run log URL scheme 'mysql'"),
    ],
)
def test_a_run_log_url_that_cannot_be_used_is_one_line_exit_2(url: str, said: str) -> None:
    out = _cli("runs", "list", "--runlog", url)
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    assert said in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert "pw-9f3c1a77" not in out.stderr and "Traceback" not in out.stderr


def test_of_many_retries_claimed_at_once_from_separate_connections_one_wins(
    runlog_target: Path | str,
) -> None:
    with RunLog(runlog_target) as log:
        parent = log.create_run(
            workflow=WORKFLOW, trigger={}, source_path=None, parent_run_id=None, started_at=1.0
        )
    start = threading.Barrier(6)

    def claim(_: int) -> str | AlreadyRetried:
        # Each its own connection, as separate processes or machines would have.
        with RunLog(runlog_target) as log:
            start.wait()
            try:
                return log.create_run(
                    workflow=WORKFLOW, trigger={}, source_path=None,
                    parent_run_id=parent, started_at=2.0,
                )  # fmt: skip
            except AlreadyRetried as exc:
                return exc

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(claim, range(6)))
    won = [o for o in outcomes if isinstance(o, str)]
    assert len(won) == 1, outcomes
    assert {o.child_run_id for o in outcomes if isinstance(o, AlreadyRetried)} == set(won)
    with RunLog(runlog_target, readonly=True) as log:
        assert [r.id for r in log.list_runs() if r.parent_run_id == parent] == won
