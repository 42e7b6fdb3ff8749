"""Peak memory, run-log size and run-log write time of a loop, and the peak memory of
`connector runs show --json` of it.

The Bitly sandbox runs in its own process; this process runs the engine only, so its peak
resident set (VmHWM from /proc/self/status) is the engine's, with the catalog, the httpx
client, the trigger's items and the SQLite run log. The items' outputs are not held: they
are in the run log (loop_items.py). Every run-log write is timed. Then `connector runs show
RUN --json` runs as its own process, its output counted and checked to be one JSON
document, and its peak RSS read from the kernel (ru_maxrss of the child). Run:

    .venv/bin/python bench/engine_memory.py [--items 20000] [--concurrency 20] [--keep DIR]
        [--echo]
    .venv/bin/python bench/engine_memory.py --keep DIR --show-run RUN_ID [--baseline SRC]
    .venv/bin/python bench/engine_memory.py --cli --items 1000000 [--keep DIR]

`--show-run` times `runs show --json` of a kept run alone; with `--baseline SRC` (a source
tree of the code to compare with, e.g. `git archive main | tar -x -C SRC`) it times this
tree's and the baseline's in alternating pairs and prints their ratio.

With `--echo` the HTTP runner is replaced by an in-process one answering every item with
a fresh copy (decoded from JSON) of the answer the sandbox gave for the first link: the
engine's own memory (templates, input validation, the loop, the run log) at a million
items without the hours a million requests take on a loaded machine. Everything else is
as in the real run.

With `--cli` the loop is started as a user starts it: a trigger file of `--items` bitlinks
(`{"bitlinks": [...]}`, as a builder platform exports it) and `connector run
examples/link_clicks.yaml --trigger @FILE` in its own process (bench/cli_echo.py: the real
command, each action answered in process with its output sample), whose own peak RSS
(VmHWM) is read as it exits. Baselines in the same run: the same command on a 1,000-item
file, and the trigger file parsed alone (`safe_load.load_json_file`) in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    current_rss_mb,
    demo_bitlinks,
    items_for,
    machine,
    peak_rss_mb,
    run_engine,
    sandbox,
)

from connector.engine.rate_budget import RateLimitSpec
from connector.engine.runlog import RunLog

#: peak RSS the engine may reach (issue 12: a 1,000,000-item loop under 200 MB)
LIMIT_MB = 200.0
ROOT = Path(__file__).resolve().parents[1]


class TimedRunLog(RunLog):
    """The real run log, with the time spent in each kind of write added up."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def _timed(self, name: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self.calls[name] = self.calls.get(name, 0) + 1

    def create_run(self, **kwargs: Any) -> str:
        return str(self._timed("create_run", super().create_run, **kwargs))

    def finish_run(self, run_id: str, **kwargs: Any) -> None:
        self._timed("finish_run", super().finish_run, run_id, **kwargs)

    def write_step(self, run_id: str, step_id: str, **kwargs: Any) -> None:
        self._timed("write_step", super().write_step, run_id, step_id, **kwargs)

    def write_item(self, run_id: str, record: Any) -> str | None:
        text: str | None = self._timed("write_item", super().write_item, run_id, record)
        return text


class EchoRunner:
    """Answers each item with a new object decoded from one real answer's JSON."""

    def __init__(self, answer: Any) -> None:
        self.text = json.dumps(answer)
        self.calls = 0

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        self.calls += 1
        return json.loads(self.text)

    async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return None


async def run_echo(box: Any, links: list[str], *, batch_size: int, runlog: RunLog) -> Any:
    """The loop workflow on the Engine with an EchoRunner (see the module's docstring)."""
    from _common import ACTION, QUERY, TOKEN, EngineRun, loop_workflow

    from connector.api import run_action
    from connector.catalog import load_catalog
    from connector.engine.executor import Engine
    from connector.engine.workflow import validate_workflow

    catalog = load_catalog()
    answer = await run_action(
        ACTION, {"bitlink": links[0], **QUERY}, catalog=catalog,
        base_urls={"bitly": box.api}, credentials={"bitly": TOKEN},
    )  # fmt: skip
    workflow = validate_workflow(loop_workflow(batch_size), catalog)
    engine = Engine(catalog, EchoRunner(answer), runlog)  # type: ignore[arg-type]
    t0, c0 = time.perf_counter(), time.process_time()
    result = await engine.run(workflow, {"links": links})
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    summary = runlog.steps(result.run_id)[0].summary or {}
    return EngineRun(result.status, result.run_id, seconds, cpu, len(links), summary, 0, 0)


def file_mb(path: Path) -> float:
    """The database with its WAL and shared-memory files, in MiB."""
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


#: `python -m connector` that writes its own peak RSS (VmHWM, KiB) to the file named by
#: $BENCH_PEAK_FILE as it exits. Not ru_maxrss from wait4: Linux carries the forking
#: process's high-water mark into the child's ru_maxrss across exec, so a child started
#: by this process (which holds up to 50 MiB of output to parse) would report that instead.
_SHOW_WITH_PEAK = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv[0] = "connector"
runpy.run_module("connector", run_name="__main__", alter_sys=True)
"""


def show_json(db: Path, run_id: str, source: Path = ROOT) -> tuple[float, float, int]:
    """`connector runs show RUN --json` in its own process, with the `connector` package of
    the source tree `source` (this one, or a baseline's: `python -c` imports from the
    working directory first): (seconds, its peak RSS in MiB, bytes written; -1 when the
    output was not one JSON document)."""
    cmd = [sys.executable, "-c", _SHOW_WITH_PEAK, "runs", "show", run_id, "--json",
           "--runlog", str(db)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        env = os.environ | {"BENCH_PEAK_FILE": str(peak_file)}
        t0 = time.perf_counter()
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=source, env=env) as child:
            assert child.stdout is not None
            size, valid = _check_stream(child.stdout)
        seconds = time.perf_counter() - t0
        if child.returncode != 0:
            raise SystemExit(f"runs show --json exited {child.returncode}")
        peak_kib = int(peak_file.read_text())
    return seconds, peak_kib / 1024, size if valid else -1


def report_show(db: Path, run_id: str, source: Path = ROOT, label: str = "") -> float | None:
    """Time `runs show --json` of `run_id` and print its figures; its seconds, None if its
    output was not one JSON document."""
    seconds, peak, written = show_json(db, run_id, source)
    valid = "one JSON document" if written >= 0 else "NOT one JSON document"
    print(f"runs show --json{label}: {seconds:.1f} s, peak RSS {peak:.0f} MiB,"
          f" {abs(written) / 2**20:.1f} MiB written, {valid}", flush=True)  # fmt: skip
    return seconds if written >= 0 else None


def compare_show(db: Path, run_id: str, baseline: Path, rounds: int) -> bool:
    """`runs show --json` of this tree against `baseline`'s, alternating which goes first
    (ABBA) so that a change in the machine's load falls on both; prints each round's ratio
    (baseline seconds / this tree's) and their median."""
    if not (baseline / "connector" / "__main__.py").is_file():
        raise SystemExit(f"--baseline {baseline}: not a source tree (no connector/__main__.py)")
    ratios = []
    for round_ in range(rounds):
        order = [("this tree", ROOT), ("baseline", baseline)]
        seconds = {}
        for name, source in order if round_ % 2 == 0 else order[::-1]:
            taken = report_show(db, run_id, source, f" ({name}, round {round_ + 1})")
            if taken is None:
                return False
            seconds[name] = taken
        ratios.append(seconds["baseline"] / seconds["this tree"])
        print(f"round {round_ + 1}: baseline / this tree = {ratios[-1]:.2f}x", flush=True)
    print(f"median ratio over {rounds} rounds: {statistics.median(ratios):.2f}x faster")
    return True


def _check_stream(stream: Any) -> tuple[int, bool]:
    """Count the bytes without holding them; a document up to 50 MiB is parsed whole, a
    larger one checked to open and close as one object (parsing 1M items would need the
    memory the streaming saves: the test suite parses a streamed document in full)."""
    size = 0
    small = bytearray()
    first = last = b""
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        size += len(chunk)
        first = first or chunk.lstrip()[:1]
        last = chunk.rstrip()[-1:] or last
        if size <= 50 << 20:
            small += chunk
    if size <= 50 << 20:
        json.loads(bytes(small))
        return size, True
    return size, first == b"{" and last == b"}"


#: `python -c` that parses a trigger file as `--trigger @FILE` does and prints its peak RSS
_PARSE_WITH_PEAK = """
import sys, time
from connector.safe_load import load_json_file
cpu = time.process_time()
value = load_json_file(sys.argv[1], what="trigger file")
cpu = time.process_time() - cpu
with open("/proc/self/status") as status:
    kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(kib, cpu)
"""


def write_trigger(path: Path, items: int) -> float:
    """`{"bitlinks": [...]}` of `items` distinct bitlinks (bit.ly/ and 7 characters, as
    Bitly makes them), one a line; its size in MiB."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def hash_of(n: int) -> str:
        return "".join(alphabet[(n // 62**k) % 62] for k in range(7))

    with path.open("w") as out:
        out.write('{"bitlinks": [\n')
        out.write(",\n".join(f'  "bit.ly/{hash_of(i * 7919 + 1_000_003)}"' for i in range(items)))
        out.write("\n]}\n")
    return path.stat().st_size / 2**20


def cli_run(trigger: Path, home: Path) -> tuple[float, float, float, dict[str, Any]]:
    """`connector run examples/link_clicks.yaml --trigger @TRIGGER --json` with in-process
    answers, in its own process: (seconds, its CPU seconds, its peak RSS MiB, its result)."""
    cmd = [sys.executable, str(ROOT / "bench" / "cli_echo.py"), "run",
           str(ROOT / "examples" / "link_clicks.yaml"), "--trigger", f"@{trigger}", "--json",
           "--home", str(home)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITLY_", "CONNECTOR_"))}
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        env |= {"BENCH_PEAK_FILE": str(peak_file), "PYTHONPATH": str(ROOT)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, cwd=ROOT, env=env)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"connector run exited {done.returncode}")
        peak_mib = int(peak_file.read_text()) / 1024
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu, peak_mib, json.loads(done.stdout)


def parse_alone(trigger: Path) -> tuple[float, float]:
    """The trigger file parsed alone in its own process: (peak RSS MiB, CPU seconds)."""
    out = subprocess.run([sys.executable, "-c", _PARSE_WITH_PEAK, str(trigger)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    kib, cpu = out.split()
    return int(kib) / 1024, float(cpu)


def main_cli(items: int, keep: Path | None) -> int:
    """--cli: the run of a trigger file of `items` bitlinks, and its baselines."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        ok = True
        for n in (1000, items):
            trigger = folder / f"bitlinks-{n}.json"
            size = write_trigger(trigger, n)
            parse_peak, parse_cpu = parse_alone(trigger)
            seconds, cpu, peak, result = cli_run(trigger, folder / f"home-{n}")
            summary = result["output"]["summary"]
            print(f"{n:,} items: trigger file {size:.1f} MiB; parsed alone: peak RSS"
                  f" {parse_peak:.0f} MiB, {parse_cpu:.2f} s CPU", flush=True)  # fmt: skip
            print(f"  connector run --trigger @FILE: {result['status']}, {summary},"
                  f" {seconds:.0f} s ({cpu:.0f} s CPU), {n / seconds:,.0f} items/s,"
                  f" peak RSS {peak:.0f} MiB", flush=True)  # fmt: skip
            ok = ok and result["status"] == "succeeded" and summary["succeeded"] == n
            if n == items:
                passed = peak < LIMIT_MB and ok
                print(f"target: peak RSS < {LIMIT_MB:.0f} MiB: {'PASS' if passed else 'FAIL'}")
                ok = passed
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the run log in this directory")
    parser.add_argument("--no-show", action="store_true", help="skip `runs show --json`")
    parser.add_argument("--echo", action="store_true", help="in-process answers, no HTTP")
    parser.add_argument(
        "--cli",
        action="store_true",
        help="`connector run --trigger @FILE` of --items bitlinks, in-process answers",
    )
    parser.add_argument(
        "--show-run", metavar="RUN_ID", help="only time `runs show --json` of this run in --keep"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="SRC",
        help="with --show-run: time it against this source tree's (`git archive REV | tar -x`)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="paired rounds with --baseline")
    args = parser.parse_args(argv)

    print(machine(), flush=True)
    if args.cli:
        return main_cli(args.items, args.keep)
    if args.show_run:
        if not args.keep:
            parser.error("--show-run needs --keep DIR (the run log's directory)")
        db = args.keep / "runs.db"
        if args.baseline:
            return 0 if compare_show(db, args.show_run, args.baseline, args.rounds) else 1
        return 0 if report_show(db, args.show_run) is not None else 1
    with sandbox() as box, tempfile.TemporaryDirectory() as tmp:
        links = items_for(demo_bitlinks(box), args.items)
        overrides = {"bitly": RateLimitSpec(concurrency=args.concurrency)}
        # Imports and the catalog loaded, connections not yet: the floor before the run.
        from connector.catalog import load_catalog

        load_catalog()
        before = current_rss_mb()
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "runs.db"
        log = TimedRunLog(db)
        try:
            if args.echo:
                run = asyncio.run(run_echo(box, links, batch_size=args.concurrency, runlog=log))
            else:
                run = asyncio.run(
                    run_engine(
                        box, links, batch_size=args.concurrency, runlog=log, overrides=overrides
                    )
                )
            size_open = file_mb(db)
        finally:
            log.close()  # the last connection checkpoints the WAL into the database
        peak = peak_rss_mb()
        size = file_mb(db)
        how = "in-process echo of one real answer" if args.echo else "the sandbox over HTTP"
        print(f"{args.items} items of bitly.get_link_click_metrics, concurrency"
              f" {args.concurrency}, answered by {how}")  # fmt: skip
        print(f"run {run.run_id}: {run.status}, {run.summary}, {run.seconds:.1f} s,"
              f" {run.rate:.0f} items/s")  # fmt: skip
        print(f"RSS before the run {before:.0f} MiB; peak RSS of this process {peak:.0f} MiB")
        print(f"run log: {size:.1f} MiB after close ({size_open:.1f} MiB with the WAL at run end)")
        writes = sum(log.seconds.values())
        print(f"run-log writes: {writes:.2f} s in total ({writes / run.seconds:.0%} of the run)")
        for name in sorted(log.seconds):
            calls, seconds = log.calls[name], log.seconds[name]
            print(f"  {name:<10} {calls:>7} calls {seconds:7.2f} s"
                  f"  {1000 * seconds / calls:.3f} ms each")  # fmt: skip
        ok = peak < LIMIT_MB and run.status == "succeeded"
        print(f"target: peak RSS < {LIMIT_MB:.0f} MiB: {'PASS' if ok else 'FAIL'}", flush=True)
        if not args.no_show:
            ok = report_show(db, run.run_id) is not None and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
