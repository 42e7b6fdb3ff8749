"""Shared by the hostile-input tests (issue 7 points 5-16): isolated secrets, a CLI runner
that measures a subprocess's peak memory and time."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith(f"{field}:"))
    return int(kib) / 1024


class PeakGrowth:
    """How far this process's peak RSS rose above its RSS when made, in MiB.

    Not a ru_maxrss difference: once an earlier test has made the pytest process peak
    higher, that difference is zero whatever the code under test allocates. Writing "5" to
    /proc/self/clear_refs resets the peak (VmHWM) to the current RSS (Linux 4.0+)."""

    def __init__(self) -> None:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        self.start = _status_mib("VmRSS")

    def mib(self) -> float:
        return _status_mib("VmHWM") - self.start


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


#: `connector ARGS` that writes its own peak RSS (VmHWM, KiB) to $CONNECTOR_TEST_PEAK_FILE as
#: it exits. Not ru_maxrss from wait4: Linux carries the forking process's high-water mark
#: into the child's ru_maxrss across exec, so once this pytest process has grown past the
#: bound (a big in-process test earlier in the run) every child would seem to exceed it.
#: VmHWM belongs to the memory the child got at exec: its own.
_CLI_WITH_PEAK = """
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["CONNECTOR_TEST_PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
from connector.cli import main
sys.exit(main())
"""


def start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """`connector ARGS` in a fresh interpreter; with CONNECTOR_TEST_PEAK_FILE in `env` it
    writes its own peak memory there as it exits."""
    code = _CLI_WITH_PEAK if "CONNECTOR_TEST_PEAK_FILE" in env else _PLAIN_CLI
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


_PLAIN_CLI = "import sys; from connector.cli import main; sys.exit(main())"


def run_cli(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 30.0) -> Finished:
    """Run one CLI command: its peak memory is the child's own VmHWM (see _CLI_WITH_PEAK),
    its CPU time from wait4 on that very child."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        proc = start_cli(args, {**env, "CONNECTOR_TEST_PEAK_FILE": str(peak_file)}, cwd)
        out, err = _drain(proc, timeout)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        # No file: the child died before its exit handlers ran (a signal, os._exit): the
        # kernel's figure then, which can only overstate it.
        peak_kib = float(peak_file.read_text()) if peak_file.exists() else usage.ru_maxrss
    return Finished(
        proc.returncode,
        out,
        err,
        time.perf_counter() - started,
        peak_kib / 1024,
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
