"""Issue 7's duplicate-write scenarios, reproduced as found: the CLI against the shorten.dev
sandbox with lost writes, double retries, kill -9 and a full run log. The proof is the
sandbox's store (one link per intended URL) and the run log agreeing with it."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from connector.engine.intents import IntentLog
from connector.engine.runlog_errors import translated

from .shorten_box import (
    FAST_RETRY,
    ROOT,
    ShortenBox,
    assert_log_agrees_with_store,
    cli,
    create_workflow,
    intents,
    popen,
    read,
    urls,
)

pytestmark = pytest.mark.slow

PREFIX = "https://example.com/dup/"


def _where(tmp_path: Path, runlog_target: Path | str) -> tuple[Path | str, list[str]]:
    """The run log and the CLI options naming it: the file in --home, or --runlog URL."""
    if isinstance(runlog_target, Path):
        return tmp_path / "home" / "runs.db", ["--home", str(tmp_path / "home")]
    return runlog_target, ["--runlog", runlog_target]


def _run_id(db: Path | str) -> str:
    (row,) = read(db, "SELECT id FROM runs WHERE parent_run_id IS NULL")
    return str(row[0])


def test_create_without_slug_under_lost_writes_makes_one_link_per_url(
    tmp_path: Path, runlog_target: Path | str
) -> None:
    # As found: 20 URLs, 30% of writes applied and their answer lost; the engine took
    # "cannot tell" as "not applied", resent, reported success, and the store held 27.
    wanted = urls(PREFIX, 20)
    db, where = _where(tmp_path, runlog_target)
    with ShortenBox() as box:
        box.set_faults(lost_write_rate=0.3, seed=3)
        wf = create_workflow(tmp_path / "wf.yaml")
        done = cli(
            "run", str(wf), "--trigger", json.dumps({"urls": wanted}), *where,
            "--json", env=box.env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        assert json.loads(done.stdout)["status"] == "succeeded"
        assert_log_agrees_with_store(box, db, PREFIX, wanted)
        creates = box.count("POST /api/v1/links")
    attempts = read(db, "SELECT attempts_json FROM loop_items")
    calls = [a.get("call", "request") for (text,) in attempts for a in json.loads(text)]
    # Lost writes really happened, and each was settled by reading its slug back.
    assert calls.count("reconcile") >= 3
    assert creates == calls.count("request")


def test_retry_twice_at_once_and_again_after_runs_once(
    tmp_path: Path, runlog_target: Path | str
) -> None:
    # As found: `runs retry RUN` twice at once, then once more: 60 URLs gave 105, then 150.
    wanted = urls(PREFIX, 30)
    db, where = _where(tmp_path, runlog_target)
    with ShortenBox() as box:
        box.set_faults(error_rate=0.4, seed=5)  # refused before handling: nothing applied
        wf = create_workflow(tmp_path / "wf.yaml", retry={**FAST_RETRY, "max_attempts": 1})
        first = cli(
            "run", str(wf), "--trigger", json.dumps({"urls": wanted}), *where,
            env=box.env,
        )  # fmt: skip
        assert first.returncode == 1, first.stderr + first.stdout
        parent = _run_id(db)
        box.set_faults()
        both = [popen("runs", "retry", parent, *where, env=box.env) for _ in "ab"]
        results = [(p.wait(timeout=120), *p.communicate()) for p in both]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 1], results
        ((child,),) = read(db, "SELECT id FROM runs WHERE parent_run_id=?", (parent,))
        refused = next(err for code, _, err in results if code == 1)
        assert f"already retried as run {child}" in refused and "Traceback" not in refused

        again = cli("runs", "retry", parent, *where, env=box.env)
        assert again.returncode == 1 and f"already retried as run {child}" in again.stderr
        as_json = cli("runs", "retry", parent, "--json", *where, env=box.env)
        assert as_json.returncode == 1 and json.loads(as_json.stdout)["retried_as"] == child
        followed = cli("runs", "retry", parent, "--follow", "--json", *where,
                       env=box.env)  # fmt: skip
        assert followed.returncode == 0, followed.stderr
        assert json.loads(followed.stdout)["run_id"] == child
        done = cli("runs", "retry", child, *where, env=box.env)
        assert done.returncode == 2 and "nothing to retry" in done.stderr
        assert_log_agrees_with_store(box, db, PREFIX, wanted)
        runs = read(db, "SELECT count(*) FROM runs")
    assert runs == [(2,)]


def _killed_mid_write(tmp_path: Path, box: ShortenBox, wanted: list[str]) -> tuple[Path, str]:
    """`connector run` killed with SIGKILL while a create is in flight (its intent pending)."""
    home = tmp_path / "home"
    db = home / "runs.db"
    box.set_faults(latency_ms=150)
    wf = create_workflow(tmp_path / "wf.yaml")
    proc = popen(
        "run", str(wf), "--trigger", json.dumps({"urls": wanted}), "--home", str(home),
        env=box.env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    states = [s for (s,) in read(db, "SELECT state FROM intents")]
                except AssertionError:
                    states = []
                if len(states) >= 4 and "pending" in states:
                    break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.communicate()
    box.set_faults()
    time.sleep(0.3)  # the request cut off by the kill reaches the store, or never does
    return db, _run_id(db)


def test_kill_9_mid_create_then_retry_reads_the_open_write_back(tmp_path: Path) -> None:
    wanted = urls(PREFIX, 10)
    with ShortenBox() as box:
        db, run_id = _killed_mid_write(tmp_path, box, wanted)
        pending = [i for i, (state, _) in intents(db).items() if state == "pending"]
        assert len(pending) == 1
        listed = cli("runs", "show", run_id, "--home", str(db.parent), env=box.env)
        assert f"each[{pending[0]}]: shorten_dev.create_link pending" in listed.stdout
        retried = cli("runs", "retry", run_id, "--json", "--home", str(db.parent), env=box.env)
        assert retried.returncode == 0, retried.stderr + retried.stdout
        assert_log_agrees_with_store(box, db, PREFIX, wanted)
        child = json.loads(retried.stdout)["run_id"]
    (attempts,) = read(
        db, "SELECT attempts_json FROM loop_items WHERE run_id=? AND idx=?", (child, pending[0])
    )[0]
    assert json.loads(attempts)[0]["call"] == "reconcile"  # checked before anything was sent


def test_kill_9_then_the_user_resolves_the_open_write(tmp_path: Path) -> None:
    wanted = urls(PREFIX, 8)
    with ShortenBox() as box:
        db, run_id = _killed_mid_write(tmp_path, box, wanted)
        (idx,) = [i for i, (state, _) in intents(db).items() if state == "pending"]
        landed = box.per_destination(PREFIX)[wanted[idx]] == 1
        answer = "applied" if landed else "not-applied"
        before = box.count("POST /api/v1/links")
        never_started = len(wanted) - len(intents(db))
        retried = cli(
            "runs", "retry", run_id, "--resolve", f"each[{idx}]={answer}", "--json",
            "--home", str(db.parent), env=box.env,
        )  # fmt: skip
        assert retried.returncode == 0, retried.stderr + retried.stdout
        assert_log_agrees_with_store(box, db, PREFIX, wanted)
        # Only the items never started, and the open one if it never landed, were sent.
        assert box.count("POST /api/v1/links") - before == never_started + (not landed)
        child = json.loads(retried.stdout)["run_id"]
        (attempts,) = read(
            db, "SELECT attempts_json FROM loop_items WHERE run_id=? AND idx=?", (child, idx)
        )[0]
        first = json.loads(attempts)[0]
        if landed:
            assert first["result"] == "resolved_applied"
        else:
            assert first.get("call", "request") == "request"
        bad = cli("runs", "retry", child, "--resolve", "each[0]=maybe", "--home", str(db.parent),
                  env=box.env)  # fmt: skip
        assert bad.returncode == 2 and "ITEM=applied or ITEM=not-applied" in bad.stderr


def test_full_run_log_stops_the_run_before_the_next_write(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    # As found: the disk filled mid-run; writes landed but were never recorded, and a retry
    # made them again. Now the run stops at the first intent it cannot record.
    home, wanted = tmp_path / "home", urls(PREFIX, 12)
    record = IntentLog.record
    recorded: list[int] = []

    @translated("recording a write intent")  # where sqlite3's own error would surface
    def fills_up(self: IntentLog, target: Any, *args: Any, **kwargs: Any) -> None:
        if len(recorded) == 5:
            raise sqlite3.OperationalError("database or disk is full")
        record(self, target, *args, **kwargs)
        recorded.append(target.index)

    with ShortenBox() as box:
        for key, value in box.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(IntentLog, "record", fills_up)
        wf = create_workflow(tmp_path / "wf.yaml")
        trigger = json.dumps({"urls": wanted})
        code = main(["run", str(wf), "--trigger", trigger, "--home", str(home)])
        out, err = capsys.readouterr()
        assert code == 1
        assert f"{home / 'runs.db'}: the run log cannot grow: the disk is full" in out
        assert "Traceback" not in out + err
        # Nothing was sent without its intent: five links, five intents.
        assert sorted(box.per_destination(PREFIX).values()) == [1] * 5
        assert box.count("POST /api/v1/links") == 5

        monkeypatch.setattr(IntentLog, "record", record)  # space freed
        run_id = _run_id(home / "runs.db")
        code = main(["runs", "retry", run_id, "--home", str(home)])
        assert code == 0, capsys.readouterr()
        assert_log_agrees_with_store(box, home / "runs.db", PREFIX, wanted)
        assert box.count("POST /api/v1/links") == 12


def test_item_stopped_as_outcome_unknown_is_read_back_by_the_retry_not_resent(
    tmp_path: Path,
) -> None:
    # As found: a retry resent every item that had stopped as outcome_unknown.
    home, wanted = tmp_path / "home", urls(PREFIX, 12)
    db = home / "runs.db"
    with ShortenBox() as box:
        # Writes applied and their answers lost, and the read-backs cut off too: one attempt
        # each, so some items end with nobody knowing whether their link exists.
        box.set_faults(lost_write_rate=0.6, drop_rate=0.6, seed=11)
        wf = create_workflow(tmp_path / "wf.yaml", retry={**FAST_RETRY, "max_attempts": 1})
        first = cli(
            "run", str(wf), "--trigger", json.dumps({"urls": wanted}), "--home", str(home),
            env=box.env,
        )  # fmt: skip
        assert first.returncode == 1, first.stderr + first.stdout
        unknown = sorted(i for i, (state, _) in intents(db).items() if state == "unknown")
        assert unknown, intents(db)
        landed = box.per_destination(PREFIX)
        assert any(landed[wanted[i]] == 1 for i in unknown)  # some of them did land
        parent = _run_id(db)
        shown = cli("runs", "show", parent, "--home", str(home), env=box.env)
        assert f"each[{unknown[0]}]: shorten_dev.create_link unknown" in shown.stdout

        box.set_faults()
        retried = cli("runs", "retry", parent, "--json", "--home", str(home), env=box.env)
        assert retried.returncode == 0, retried.stderr + retried.stdout
        assert_log_agrees_with_store(box, db, PREFIX, wanted)
        child = json.loads(retried.stdout)["run_id"]
    for idx in unknown:
        ((attempts,),) = read(
            db, "SELECT attempts_json FROM loop_items WHERE run_id=? AND idx=?", (child, idx)
        )
        assert json.loads(attempts)[0]["call"] == "reconcile", (idx, attempts)


def _small_disk() -> None:  # pragma: no cover - runs in the child before exec
    # Files may not grow past 200 kB: writes past it fail as on a full disk (EFBIG, the
    # signal that would otherwise kill the process ignored).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_real_write_failure_of_the_run_log_stops_the_run_and_the_retry_completes_it(
    tmp_path: Path,
) -> None:
    home, wanted = tmp_path / "home", urls(PREFIX, 40)
    db = home / "runs.db"
    with ShortenBox() as box:
        wf = create_workflow(tmp_path / "wf.yaml")
        done = subprocess.run(
            [sys.executable, "-m", "connector", "run", str(wf), "--trigger",
             json.dumps({"urls": wanted}), "--home", str(home)],
            cwd=ROOT, env=box.env, capture_output=True, text=True, timeout=120,
            preexec_fn=_small_disk,
        )  # fmt: skip
        assert done.returncode in (1, 2), done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        shown = done.stdout if done.returncode == 1 else done.stderr
        assert f"{db}: the run log could not be written" in shown, shown
        # Every link that exists has its write recorded; nothing was sent unrecorded.
        made = box.per_destination(PREFIX)
        assert 0 < len(made) < len(wanted) and set(made.values()) == {1}
        # (The write that failed may be an intent's record, then nothing was sent, or its
        # outcome, then the write stays pending and the retry reads it back.)
        states = {wanted[i]: state for i, (state, _) in intents(db).items()}
        applied = {url for url, state in states.items() if state == "applied"}
        pending = {url for url, state in states.items() if state == "pending"}
        assert applied <= set(made) <= applied | pending and len(pending) <= 1, (states, made)
        retried = cli("runs", "retry", _run_id(db), "--home", str(home), env=box.env)
        assert retried.returncode == 0, retried.stderr + retried.stdout
        assert_log_agrees_with_store(box, db, PREFIX, wanted)
