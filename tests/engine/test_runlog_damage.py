"""A damaged, truncated, read-only or full run log: one line naming the file and what to do,
exit 2 (issue 7, point 11); a read-only log can still be listed and shown."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from connector.engine.runlog import RunLog
from connector.errors import RunLogError

WORKFLOW = """\
name: one get
steps:
  - id: me
    action: bitly.get_user
"""


def _cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, path: Path, words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and str(path) in lines[0] and words in lines[0], err
    assert "Traceback" not in err


def _log_with_runs(home: Path, n: int = 3) -> list[str]:
    with RunLog(home / "runs.db") as log:
        ids = []
        for i in range(n):
            run_id = log.create_run(
                workflow={"name": f"wf{i}", "steps": [{"id": "me", "action": "bitly.get_user"}]},
                trigger={}, source_path=None,
                parent_run_id=None, started_at=1_767_225_600.0 + i,
            )  # fmt: skip
            log.finish_run(run_id, status="failed", finished_at=1_767_225_601.0 + i)
            ids.append(run_id)
    return ids


@pytest.mark.parametrize("command", [["runs", "list"], ["runs", "show", "x"]])
def test_a_file_that_is_not_a_database(tmp_path, capsys, command) -> None:
    db = tmp_path / "runs.db"
    db.write_bytes(b"this is not SQLite at all\n" * 200)
    code, out, err = _cli(capsys, *command, "--home", str(tmp_path))
    assert code == 2 and out == ""
    _one_line_error(err, db, "is damaged")
    assert "move it aside" in err


def test_a_truncated_log(tmp_path, capsys) -> None:
    _log_with_runs(tmp_path, 40)
    db = tmp_path / "runs.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    for leftover in tmp_path.glob("runs.db-*"):
        leftover.unlink()
    code, _, err = _cli(capsys, "runs", "list", "--home", str(tmp_path))
    assert code == 2
    _one_line_error(err, db, "is damaged")
    code, _, err = _cli(capsys, "run", str(_workflow(tmp_path)), "--home", str(tmp_path))
    assert code == 2
    _one_line_error(err, db, "is damaged")


def _workflow(tmp_path: Path) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return path


def test_a_directory_where_the_log_should_be(tmp_path, capsys) -> None:
    (tmp_path / "runs.db").mkdir()
    code, _, err = _cli(capsys, "run", str(_workflow(tmp_path)), "--home", str(tmp_path))
    assert code == 2
    _one_line_error(err, tmp_path / "runs.db", "cannot be opened")


def test_full_disk_while_recording_is_one_line(tmp_path) -> None:
    _log_with_runs(tmp_path, 1)
    log = RunLog(tmp_path / "runs.db")
    (pages,) = log.db.execute("PRAGMA page_count").fetchone()
    log.db.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(RunLogError) as caught:
        for i in range(200):
            log.create_run(
                workflow={"name": "x" * 2000}, trigger={}, source_path=None,
                parent_run_id=None, started_at=float(i),
            )  # fmt: skip
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "runs.db") + ": the run log cannot grow")
    assert "free some space" in message and "\n" not in message
    assert caught.value.exit_code == 2
    log.close()


def _as_reader_of_a_read_only_file(argv: list[str], home: Path) -> tuple[int, str, str]:
    """Run the CLI where the log is read-only: chmod'ed when not root; as root (who may
    write anyway) in a forked child that gives up its privileges first."""
    db = home / "runs.db"
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    home.chmod(0o555)
    if os.geteuid() != 0:
        code, out, err = _forked(argv, drop=False)
    else:
        code, out, err = _forked(argv, drop=True)
    home.chmod(0o755)
    db.chmod(0o644)
    return code, out, err


def _forked(argv: list[str], *, drop: bool) -> tuple[int, str, str]:
    import connector.cli.run_cmd
    import connector.engine.report  # noqa: F401

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            if drop:
                os.setgid(65534)
                os.setuid(65534)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            sys.stdout = os.fdopen(1, "w", closefd=False)
            sys.stderr = os.fdopen(2, "w", closefd=False)
            code = main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r) as o, os.fdopen(err_r) as e:
        out, err = o.read(), e.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out, err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and fork")
def test_a_read_only_log_can_be_listed_and_shown_but_not_written() -> None:
    # A directory anyone may enter: pytest's tmp_path is private to its owner.
    home = Path(tempfile.mkdtemp(prefix="connector-ro-"))
    try:
        home.chmod(0o755)
        ids = _log_with_runs(home, 3)
        with sqlite3.connect(home / "runs.db") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        code, out, err = _as_reader_of_a_read_only_file(["runs", "list", "--home", str(home)], home)
        assert code == 0, err
        assert all(run_id in out for run_id in ids)
        code, out, err = _as_reader_of_a_read_only_file(
            ["runs", "show", ids[0], "--home", str(home)], home
        )
        assert code == 0 and f"run {ids[0]}: failed" in out, err
        code, out, err = _as_reader_of_a_read_only_file(
            ["runs", "retry", ids[0], "--home", str(home)], home
        )
        assert code == 2
        _one_line_error(err, home / "runs.db", "is read-only")
        assert "runs list" in err  # says what still works
    finally:
        home.chmod(0o755)
        for path in home.iterdir():
            path.unlink()
        home.rmdir()


def test_listing_before_any_run_creates_nothing(tmp_path, capsys) -> None:
    code, _, err = _cli(capsys, "runs", "list", "--home", str(tmp_path / "none"))
    assert code == 0 and err == ""
    assert not (tmp_path / "none").exists()
