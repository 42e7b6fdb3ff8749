"""`connector serve`: refuses to start without an API key unless it is a loopback sandbox
(then it prints a generated key, the one place a key is shown), and serves once started."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connector.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["serve"], "no API key"),
        (["serve", "--host", "0.0.0.0", "--sandbox"], "no API key"),
        (["serve", "--api-key", "short"], "at least 16 characters"),
        (["serve", "--port", "70000"], "between 0 and 65535"),
    ],
)
def test_serve_refuses_bad_setups_on_one_line(
    argv: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CONNECTOR_API_KEYS", raising=False)
    # argparse refuses a bad option value itself (exit 2); the rest are refused by serve
    with pytest.raises(SystemExit) if "70000" in argv else contextlib.nullcontext():
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and err.count("\n") <= 2, err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_sandbox_prints_a_generated_key_and_guards_the_api(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_API_KEYS"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "serve",
            "--sandbox",
            "--port",
            str(port),
            "--home",
            str(tmp_path / "home"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        key = re.search(r"API key for this session: (\S+)", "".join(lines))
        assert key, lines
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(base + "/health")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        assert httpx.get(base + "/v1/catalog").status_code == 401
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        catalog = httpx.get(base + "/v1/catalog", headers=headers)
        assert catalog.status_code == 200 and catalog.json()["apps"]
        assert key.group(1) not in catalog.text
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert "Traceback" not in err, err
