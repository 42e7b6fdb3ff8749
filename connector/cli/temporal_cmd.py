"""`connector worker`, and `--temporal` on `run` and `runs retry`: runs on Temporal.

`connector worker --temporal HOST:PORT` serves runs until interrupted. `connector run
WORKFLOW --temporal HOST:PORT` (or `$CONNECTOR_TEMPORAL`) checks the workflow here, sends
the run to the task queue, waits for a worker to finish it, and prints its result from the
run log exactly as an embedded run does (exit 0 succeeded, 1 failed). A server that cannot
be reached is one line, exit 2, and nothing is sent.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.engine.executor import RunResult

__all__ = [
    "leave",
    "register",
    "retry_on_temporal",
    "run_on_temporal",
    "temporal_address",
    "temporal_options",
]

ENV = "CONNECTOR_TEMPORAL"


#: set once this process has used a Temporal client (see `leave`)
_used = False
#: apps' rate limits replaced outright in a worker: tests and benchmarks that send a
#: sandbox far more than an hour's allowance set it (tests/temporal/limitless_worker.py)
RATE_OVERRIDES: dict[str, Any] | None = None


def temporal_options(parser: argparse.ArgumentParser, *, worker: bool = False) -> None:
    parser.add_argument(
        "--temporal",
        metavar="HOST:PORT",
        help=f"the Temporal server{'' if worker else ' to run on'} (default ${ENV})",
    )
    parser.add_argument("--namespace", default="default", help="Temporal namespace")
    parser.add_argument(
        "--task-queue", default="connector", help="the task queue workers poll (connector)"
    )
    if worker:
        return
    # How a run is cut into activities (ARCHITECTURE.md, "Runs on Temporal").
    tuning = parser.add_argument_group("with --temporal")
    tuning.add_argument(
        "--items-per-activity",
        type=_positive,
        metavar="N",
        help="loop items one activity runs (default: 100, up to 1,000 for long loops)",
    )
    for flag, default, what in (
        ("--activities-in-flight", 8, "activities of a loop running at once"),
        ("--activities-per-execution", 400, "activities before the workflow continues as new"),
    ):
        tuning.add_argument(flag, type=_positive, default=default, metavar="N",
                            help=f"{what} ({default})")  # fmt: skip
    tuning.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="silence after which a worker's activity goes to another worker (30)",
    )


def leave(code: int) -> int:
    """End the command with `code`. temporalio's native threads can crash CPython's
    teardown (SIGABRT after the output, temporalio/sdk-python#300): a `connector` process
    that used a Temporal client ends at once, its output flushed. Inside a test run
    (pytest calling `main`), `code` is returned."""
    if not _used or "pytest" in sys.modules:
        return code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def temporal_address(args: argparse.Namespace) -> str | None:
    return getattr(args, "temporal", None) or os.environ.get(ENV) or None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser("worker", help="run a Temporal worker for connector runs")
    temporal_options(worker, worker=True)
    worker.add_argument(
        "--max-activities",
        type=_positive,
        default=4,
        metavar="N",
        help="activities run at once (each keeps its loop's batch_size items in flight)",
    )
    worker.add_argument("--home", help="run-log directory (default $CONNECTOR_HOME)")
    worker.add_argument(
        "--runlog",
        metavar="URL",
        help="the shared run log: postgresql://user:password@host/db (default "
        "$CONNECTOR_RUNLOG, else runs.db in --home)",
    )
    worker.set_defaults(func=_worker)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value[:40]!r}") from None
    if not 1 <= number <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100,000, got {value[:40]}")
    return number


def _need_address(args: argparse.Namespace) -> str:
    from connector.errors import InvalidConfiguration

    address = temporal_address(args)
    if not address:
        raise InvalidConfiguration(f"name the Temporal server: --temporal HOST:PORT or ${ENV}")
    return address


def _worker(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from connector.catalog import load_catalog
    from connector.cli.run_cmd import _runlog as runlog_target
    from connector.temporal.worker import serve

    global _used
    address = _need_address(args)
    catalog = load_catalog()
    runlog = runlog_target(args)
    _used = True

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(where: str) -> None:
            print(
                f"worker on {address} (namespace {args.namespace}, task queue "
                f"{args.task_queue}); run log {where}; Ctrl-C stops it",
                file=sys.stderr,
                flush=True,
            )

        await serve(
            address=address,
            catalog=catalog,
            runlog=runlog,
            namespace=args.namespace,
            task_queue=args.task_queue,
            max_activities=args.max_activities,
            stop=stop,
            on_ready=ready,
            overrides=RATE_OVERRIDES,
        )

    asyncio.run(go())
    print("worker stopped", file=sys.stderr)
    return 0


def _refuse_sandbox(args: argparse.Namespace) -> None:
    from connector.errors import InvalidConfiguration

    if getattr(args, "sandbox", False):
        raise InvalidConfiguration(
            "--sandbox starts the sandboxes inside this process, where no worker can reach "
            "them; with --temporal, serve one (connector sandbox serve APP) and give the "
            "workers its URL (BITLY_API_URL, SHORTEN_API_URL)",
            where="--temporal",
        )


def run_on_temporal(
    args: argparse.Namespace, workflow: Any, trigger: Any, catalog: Any
) -> RunResult:
    """Send a validated workflow's run to Temporal and wait for its result. The workflow
    and trigger go into the shared run log, written here once the server answers; the
    workflow's input names only the run (connector/temporal/run_start.py)."""
    from connector.credentials import register_credentials
    from connector.engine.runlog import new_run_id
    from connector.temporal.messages import RunRequest

    _refuse_sandbox(args)
    request = RunRequest(run_id=new_run_id(), max_wait=args.max_wait, tuning=_tuning(args))
    # A token pasted into the trigger is masked in the run log, as an embedded run does.
    register_credentials(catalog, None, os.environ)
    return _send(args, request, (workflow, trigger))


def _tuning(args: argparse.Namespace) -> Any:
    from connector.temporal.messages import Tuning

    return Tuning(
        items_per_activity=args.items_per_activity,
        activities_in_flight=args.activities_in_flight,
        activities_per_execution=args.activities_per_execution,
        heartbeat_timeout=args.heartbeat_timeout,
    )


def retry_on_temporal(args: argparse.Namespace, resolve: dict[str, str]) -> RunResult:
    """Send a retry of run `args.run_id` to Temporal (the worker checks it may be retried,
    as the embedded retry does) and wait for its result."""
    from connector.engine.runlog import new_run_id
    from connector.temporal.messages import RunRequest

    _refuse_sandbox(args)
    request = RunRequest(
        run_id=new_run_id(),
        parent_run_id=args.run_id,
        current=args.current,
        resolve=resolve,
        max_wait=args.max_wait,
        tuning=_tuning(args),
    )
    return _send(args, request)


def _send(
    args: argparse.Namespace, request: Any, new_run: tuple[Any, Any] | None = None
) -> RunResult:
    """Connect, then record (a new run: its workflow and trigger), send and follow the run."""
    import asyncio

    from connector.cli.run_cmd import _follow as follow_run
    from connector.cli.run_cmd import _runlog as runlog_target
    from connector.temporal.client import connect
    from connector.temporal.run_start import send_run

    global _used
    address = _need_address(args)
    _used = True

    sent = False

    def started() -> None:
        nonlocal sent
        sent = True
        if not args.json:
            print(
                f"run {request.run_id}: sent to Temporal at {address} (task queue "
                f"{args.task_queue}); waiting for a worker",
                file=sys.stderr,
                flush=True,
            )

    async def go() -> None:
        client = await connect(address, args.namespace)
        await send_run(client, runlog_target(args), request, args.task_queue,
                       new_run=new_run, on_started=started)  # fmt: skip

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        if sent:  # only this command stops: the run is Temporal's, and the workers go on
            print(
                f"interrupted: run {request.run_id} goes on on the workers; see it with "
                f"`connector runs show {request.run_id}`",
                file=sys.stderr,
            )
        raise
    return follow_run(runlog_target(args), request.run_id)
