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

With `--echo` the HTTP runner is replaced by an in-process one answering every item with
a fresh copy (decoded from JSON) of the answer the sandbox gave for the first link: the
engine's own memory (templates, input validation, the loop, the run log) at a million
items without the hours a million requests take on a loaded machine. Everything else is
as in the real run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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


def show_json(db: Path, run_id: str) -> tuple[float, float, int]:
    """`connector runs show RUN --json` in its own process: (seconds, its peak RSS in MiB,
    bytes written; -1 when the output was not one JSON document)."""
    cmd = [sys.executable, "-m", "connector", "runs", "show", run_id, "--json", "--runlog", str(db)]
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, env=os.environ.copy()) as child:
        assert child.stdout is not None
        size, valid = _check_stream(child.stdout)
        # wait4 gives this child's own peak RSS (ru_maxrss, KiB), not the largest child's.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if child.returncode != 0:
        raise SystemExit(f"runs show --json exited {child.returncode}")
    return seconds, usage.ru_maxrss / 1024, size if valid else -1


def report_show(db: Path, run_id: str) -> bool:
    """Time `runs show --json` of `run_id` and print its figures; False if its output was
    not one JSON document."""
    seconds, peak, written = show_json(db, run_id)
    valid = "one JSON document" if written >= 0 else "NOT one JSON document"
    print(f"runs show --json: {seconds:.1f} s, peak RSS {peak:.0f} MiB,"
          f" {abs(written) / 2**20:.1f} MiB written, {valid}", flush=True)  # fmt: skip
    return written >= 0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the run log in this directory")
    parser.add_argument("--no-show", action="store_true", help="skip `runs show --json`")
    parser.add_argument("--echo", action="store_true", help="in-process answers, no HTTP")
    parser.add_argument(
        "--show-run", metavar="RUN_ID", help="only time `runs show --json` of this run in --keep"
    )
    args = parser.parse_args(argv)

    print(machine(), flush=True)
    if args.show_run:
        if not args.keep:
            parser.error("--show-run needs --keep DIR (the run log's directory)")
        return 0 if report_show(args.keep / "runs.db", args.show_run) else 1
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
            ok = report_show(db, run.run_id) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
