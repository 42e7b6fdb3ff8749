"""`--temporal` from the command line: a server that cannot be reached is one line, exit 2,
nothing sent and no traceback; so is a `--sandbox` no worker could reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from .temporal_box import ROOT, base_env, connector, free_port

REPORT = str(ROOT / "examples" / "weekly_campaign_report.yaml")


def _one_line_error(done: object, *expected: str) -> None:
    stderr: str = done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 2, stderr  # type: ignore[attr-defined]
    assert done.stdout == ""  # type: ignore[attr-defined]
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert "Traceback" not in stderr
    for text in expected:
        assert text in stderr


@pytest.mark.parametrize(
    "command",
    [
        ["run", REPORT, "--temporal", "{address}"],
        ["runs", "retry", "20260101-000000-abcdef", "--temporal", "{address}"],
        ["worker", "--temporal", "{address}"],
    ],
    ids=["run", "retry", "worker"],
)
def test_an_unreachable_server_is_one_line_exit_2(command: list[str], tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = base_env(CONNECTOR_HOME=str(tmp_path))
    done = connector(*(part.format(address=address) for part in command), env=env, timeout=60)
    _one_line_error(done, f"cannot reach the Temporal server at {address}", "Connection refused")
    assert not (tmp_path / "runs.db").exists() or command[0] == "worker"


def test_the_server_can_come_from_the_environment(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = base_env(CONNECTOR_HOME=str(tmp_path), CONNECTOR_TEMPORAL=address)
    done = connector("run", REPORT, env=env, timeout=60)
    _one_line_error(done, f"cannot reach the Temporal server at {address}")


def test_sandbox_and_temporal_do_not_mix(tmp_path: Path) -> None:
    env = base_env(CONNECTOR_HOME=str(tmp_path))
    done = connector("run", REPORT, "--sandbox", "--temporal", "127.0.0.1:1", env=env)
    _one_line_error(done, "--sandbox starts the sandboxes inside this process")


def test_an_invalid_workflow_is_refused_before_temporal_is_asked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - id: a\n    action: bitly.no_such_action\n")
    done = connector("run", str(bad), "--temporal", "127.0.0.1:1", env=base_env())
    assert done.returncode == 2
    assert "bitly.no_such_action" in done.stderr and "Temporal" not in done.stderr
