"""Shared by the hostile-input tests (issue 7 points 5-16): isolated secrets, a CLI runner
that measures a subprocess's peak memory and time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector.redact import forget_secrets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float
    #: CPU the child used (user + system): what a bound on its work holds on a shared,
    #: loaded machine, where wall time measures the neighbours
    cpu_seconds: float = 0.0


def start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """`connector ARGS` in a fresh interpreter (its own memory, measured by wait4)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from connector.cli import main; sys.exit(main())",
            *args,
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def run_cli(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 30.0) -> Finished:
    """Run one CLI command; its peak memory comes from wait4 on that very child."""
    started = time.perf_counter()
    proc = start_cli(args, env, cwd)
    out, err = _drain(proc, timeout)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Finished(
        proc.returncode,
        out,
        err,
        time.perf_counter() - started,
        usage.ru_maxrss / 1024,  # KiB on Linux
        usage.ru_utime + usage.ru_stime,
    )


def _drain(proc: subprocess.Popen[bytes], timeout: float) -> tuple[str, str]:
    """Read both pipes to the end without reaping the child (wait4 does that)."""
    import selectors

    assert proc.stdout is not None and proc.stderr is not None
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    selector = selectors.DefaultSelector()
    for pipe in (proc.stdout, proc.stderr):
        selector.register(pipe, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    open_pipes = 2
    while open_pipes:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise AssertionError(f"{proc.args!r} took longer than {timeout} s")
        for key, _ in selector.select(left):
            data = os.read(key.fd, 65536)
            if data:
                chunks[key.fd].append(data)
            else:
                selector.unregister(key.fileobj)
                open_pipes -= 1
    selector.close()
    out = b"".join(chunks[proc.stdout.fileno()]).decode("utf-8", "replace")
    err = b"".join(chunks[proc.stderr.fileno()]).decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    return out, err


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no real credentials, the run log under `home`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("BITLY_TOKEN", "SHORTEN_API_KEY", "BITLY_API_URL", "SHORTEN_API_URL")
    }
    env.update(CONNECTOR_HOME=str(home), HOME=str(home), PYTHONPATH=str(ROOT))
    env.update(extra)
    return env
