"""What the engine benchmarks share: a sandbox in its own process, the loop workflow,
the engine run as a user runs it, and the figures about the machine and the process.

The sandbox always runs as `connector sandbox serve bitly --seed demo ...` in a child
process, so the server and the client under test never share an event loop or a core's
worth of Python.
"""

from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from connector.engine.runlog import RunLog
from connector.sandbox.config import DEMO_BITLY_TOKEN

__all__ = [
    "ACTION",
    "QUERY",
    "EngineRun",
    "Sandbox",
    "connector_process",
    "demo_bitlinks",
    "loop_workflow",
    "machine",
    "peak_rss_mb",
    "run_engine",
    "sandbox",
]

ACTION = "bitly.get_link_click_metrics"
#: The query of every request, engine and baseline alike: the weekly report's window.
QUERY: dict[str, str | int] = {"unit": "day", "units": 7}
TOKEN = DEMO_BITLY_TOKEN


@dataclass
class Sandbox:
    root: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return self.root + "/v4"

    def cpu(self) -> float:
        """The sandbox process's CPU seconds so far (user + system, /proc/PID/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def counts(self) -> dict[str, int]:
        """Requests per endpoint since start or the last reset (needs `--admin`)."""
        response = httpx.get(self.root + "/_sandbox/counts", headers=_auth())
        response.raise_for_status()
        return dict(response.json()["counts"])

    def reset_counts(self) -> None:
        httpx.post(self.root + "/_sandbox/counts/reset", headers=_auth()).raise_for_status()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox(*extra: str) -> Iterator[Sandbox]:
    """`connector sandbox serve bitly --seed demo --admin [extra...]` in a child process."""
    port = _free_port()
    command = [sys.executable, "-m", "connector", "sandbox", "serve", "bitly",
               "--seed", "demo", "--port", str(port), "--admin", *extra]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(root + "/", timeout=0.5)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise SystemExit(f"the sandbox exited with {process.returncode}") from None
                if time.monotonic() > deadline:
                    raise SystemExit("the sandbox did not answer within 20 s") from None
                time.sleep(0.01)
        yield Sandbox(root, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def demo_bitlinks(box: Sandbox) -> list[str]:
    """The demo group's bitlinks ("bit.ly/xxxx"), read from the sandbox."""
    url = f"{box.api}/groups/Bdemo000001/bitlinks"
    response = httpx.get(url, params={"size": 100}, headers=_auth())
    response.raise_for_status()
    links = [link["id"] for link in response.json()["links"]]
    if not links:
        raise SystemExit("the demo group has no bitlinks")
    return links


def items_for(links: Sequence[str], n: int) -> list[str]:
    """`n` items cycling over the demo links."""
    return [links[i % len(links)] for i in range(n)]


def loop_workflow(batch_size: int) -> dict[str, Any]:
    """One loop step: get_link_click_metrics for every bitlink of the trigger."""
    return {
        "name": f"bench click metrics (batch {batch_size})",
        "retry": {
            "max_attempts": 5,
            "initial_delay": 0.5,
            "multiplier": 2,
            "max_delay": 10,
            "jitter": 0.2,
        },
        "steps": [
            {
                "id": "metrics",
                "loop": {
                    "over": "{{ trigger.links }}",
                    "batch_size": batch_size,
                    "on_item_error": "continue",
                },
                "action": ACTION,
                "inputs": {"bitlink": "{{ item }}", **QUERY},
            }
        ],
    }


@dataclass
class EngineRun:
    status: str
    run_id: str
    seconds: float
    cpu: float  # this process's CPU seconds (time.process_time) during Engine.run
    items: int
    summary: dict[str, Any]
    throttles: int  # throttle answers the engine's budget was told about
    sent: int  # requests the budget let through

    @property
    def rate(self) -> float:
        return self.items / self.seconds


async def run_engine(
    box: Sandbox,
    links: Sequence[str],
    *,
    batch_size: int,
    runlog: Path | RunLog,
    overrides: dict[str, Any] | None = None,
) -> EngineRun:
    """Run the loop workflow through `engine_session` (real runner, real SQLite run log),
    timing `Engine.run` only: catalog loading and validation happen once per process."""
    from connector.catalog import load_catalog
    from connector.engine.session import engine_session
    from connector.engine.workflow import validate_workflow

    catalog = load_catalog()
    workflow = validate_workflow(loop_workflow(batch_size), catalog)
    trigger = {"links": list(links)}
    async with engine_session(
        catalog,
        runlog,
        base_urls={"bitly": box.api},
        credentials={"bitly": TOKEN},
        overrides=overrides,
    ) as engine:
        t0, c0 = time.perf_counter(), time.process_time()
        result = await engine.run(workflow, trigger)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        budget = engine.budgets["bitly"]
        summary = engine.runlog.steps(result.run_id)[0].summary or {}
    return EngineRun(
        result.status, result.run_id, seconds, cpu, len(links), summary,
        budget.throttles, budget.sent,
    )  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    system = f"{platform.system()} {platform.release()}"
    return f"{cores} cores (nproc), {model}, {system}, Python {platform.python_version()}"


def connector_process(args: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `python -m connector ARGS` to its end: (wall seconds, CPU seconds, its output).

    The CPU time is the child's own user + system time (`os.wait4`); stdout and stderr come
    back together. A non-zero exit ends the benchmark, showing the end of the output."""
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    out = child.stdout.read().decode() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"connector {' '.join(args)} exited with {code}:\n{out[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, out
