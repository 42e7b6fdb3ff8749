"""The README's three commands for Temporal (server, worker, run) work as written.

They are read from the README and run as they stand, with what a test machine must change:
the server's ports (free ones instead of 7233 and the UI's 8233, headless), the run log
(a private PostgreSQL instead of db.internal) and Bitly (the sandbox on loopback instead of
the real API, its demo token for the user's)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox.embedded import embedded_sandboxes

from .temporal_box import ROOT, base_env, free_port, reachable, temporal_binary

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> tuple[str, list[str]]:
    section = README.split("## Runs on Temporal workers", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"^    (\S.*)$", section, re.M)
    exports = [line for line in lines if line.startswith("export ")]
    commands = [line for line in lines if not line.startswith("export ")]
    assert len(exports) == 1 and len(commands) == 3, lines
    return exports[0], commands


def test_the_readme_commands_run_a_workflow_on_temporal(pg_server: Any, tmp_path: Path) -> None:
    export, (server_cmd, worker_cmd, run_cmd) = _commands()
    assert server_cmd == "temporal server start-dev"
    assert "CONNECTOR_RUNLOG=postgresql://" in export and "BITLY_TOKEN=" in export
    port = free_port()
    address = f"localhost:{port}"
    extra = ["--headless", "--port", str(port), "--ui-port", str(free_port()),
             "--http-port", str(free_port()), "--metrics-port", str(free_port())]  # fmt: skip

    def argv(command: str) -> list[str]:
        words = shlex.split(command.replace("localhost:7233", address))
        if words[0] == "temporal":
            return [str(temporal_binary()), *words[1:]]
        assert words[0] == "connector"
        return [sys.executable, "-m", "connector", *words[1:]]

    with embedded_sandboxes() as boxes:
        env = base_env(
            CONNECTOR_RUNLOG=pg_server.database_url(),
            BITLY_TOKEN=boxes.credentials["bitly"],
            BITLY_API_URL=boxes.base_urls["bitly"],
            CONNECTOR_HOME=str(tmp_path / "home"),
        )
        log = (tmp_path / "server.log").open("w")
        worker_log = (tmp_path / "worker.log").open("w")
        server = subprocess.Popen(argv(server_cmd) + extra, stdout=log, stderr=log)
        worker = None
        try:
            deadline = time.monotonic() + 60
            while not reachable(f"127.0.0.1:{port}"):
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
            worker = subprocess.Popen(
                argv(worker_cmd), cwd=ROOT, env=env, stdout=worker_log, stderr=worker_log
            )
            done = subprocess.run(
                argv(run_cmd), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
            )
        finally:
            for process in (worker, server):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(30)
            log.close()
            worker_log.close()
    assert done.returncode == 0, done.stderr
    assert re.search(r"^run \S+: succeeded in", done.stdout, re.M), done.stdout
    assert "total_clicks:" in done.stdout and "top_links:" in done.stdout
    assert "Traceback" not in done.stderr
