"""Cold start of the CLI: whole processes, from launch to exit, imports included.

Each command runs `--runs` times (after one warm-up run that fills the OS file cache) as a
fresh `python -m connector ...` child; the figures are the child's own CPU time (user +
system, from `os.wait4`) and its wall time, min / median / max. On a shared machine the
wall time includes waiting for a core, so the CPU time is the steadier figure; the target
(under 0.3 s) is checked on the median wall time. Run:

    .venv/bin/python bench/cold_start.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import connector_process, machine

TARGET = 0.3  # seconds, median wall time of `--help` and `catalog list`

COMMANDS: list[tuple[str, list[str], bool]] = [
    ("connector --help", ["--help"], True),
    # The first listing reads the manifests and writes the listing index
    # (connector/cli/catalog_index.py); every later one prints from the index.
    ("connector catalog list (first: no index yet)", ["catalog", "list"], False),
    ("connector catalog list", ["catalog", "list"], True),
    ("connector actions run bitly.get_user --sandbox", ["actions", "run", "bitly.get_user",
                                                        "--sandbox"], False),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    print(machine())
    print(f"{args.runs} runs each after 1 warm-up; seconds, min / median / max")
    print(f"{'command':<48} {'wall':>22} {'cpu':>22}")
    floor = [_python_pass() for _ in range(args.runs)]
    label = "python -c pass (the interpreter alone)"
    walls, cpus = [w for w, _ in floor], [c for _, c in floor]
    print(f"{label:<48} {_spread(walls):>22} {_spread(cpus):>22}")
    ok = True
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "CONNECTOR_HOME": home}
        for label, command, checked in COMMANDS:
            if "first" in label:
                runs = [_first_listing(command) for _ in range(args.runs)]
            else:
                connector_process(command, env)
                runs = [connector_process(command, env) for _ in range(args.runs)]
            walls, cpus = [w for w, _, _ in runs], [c for _, c, _ in runs]
            line = f"{label:<48} {_spread(walls):>22} {_spread(cpus):>22}"
            if checked:
                passed = statistics.median(walls) < TARGET
                ok = ok and passed
                line += f"  target < {TARGET} s: {'PASS' if passed else 'FAIL'}"
            print(line)
    return 0 if ok else 1


def _python_pass() -> tuple[float, float]:
    """The baseline: starting and ending this interpreter, nothing imported."""
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    _, _, usage = os.wait4(child.pid, 0)
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def _first_listing(command: list[str]) -> tuple[float, float, str]:
    """One run in a home of its own: no listing index to read."""
    with tempfile.TemporaryDirectory() as home:
        return connector_process(command, {**os.environ, "CONNECTOR_HOME": home})


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


if __name__ == "__main__":
    sys.exit(main())
