"""`connector run WORKFLOW` and `connector runs list|show|retry|cancel` (runs_cancel.py).

Exit codes: 0 the run succeeded, 1 it failed (the run log holds why) or was already retried
(its child's id is printed), 2 the workflow, trigger or run log is unusable (nothing was
sent). `runs list` and `runs show` only read the log, so a read-only one works too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.cli.runs_cancel import cancel
from connector.cli.temporal_cmd import temporal_address, temporal_options
from connector.cli.temporal_runs import address_options, checked_parent, checked_with_temporal
from connector.errors import AlreadyRetried
from connector.redact import redact, redact_obj

if TYPE_CHECKING:
    from connector.engine.executor import Engine, RunResult

# The engine, the run log and the sandboxes are imported by the commands that use them, when
# they run: building the parser (and `--help`) loads none of them.

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser("run", help="run a workflow file (YAML or JSON)")
    run.add_argument("workflow", type=Path, help="the workflow file")
    run.add_argument(
        "--trigger",
        help="trigger payload: JSON text, or @file.json (up to 256 MiB and 20,000,000 values: "
        "a million-item loop's rows)",
    )
    run.add_argument("--sandbox", action="store_true", help="run against local sandboxes")
    run.add_argument("--home", type=Path, help="run-log directory (default $CONNECTOR_HOME)")
    _runlog_option(run)
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    _max_wait_option(run)
    temporal_options(run)
    run.set_defaults(func=_run)

    runs = subparsers.add_parser("runs", help="inspect and retry past runs")
    sub = runs.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="recent runs")
    ls.add_argument(
        "--status", choices=["running", "succeeded", "failed", "interrupted", "cancelled"]
    )
    ls.add_argument("--limit", type=_limit, default=20, help=f"at most N runs (1..{MAX_LIST})")
    show = sub.add_parser("show", help="one run: steps, items, attempts, errors")
    show.add_argument("run_id")
    _show_options(show)
    retry = sub.add_parser("retry", help="re-run only what failed or never ran")
    retry.add_argument("run_id")
    retry.add_argument("--current", action="store_true", help="use the file's current version")
    retry.add_argument("--sandbox", action="store_true", help="run against local sandboxes")
    retry.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="ITEM=applied|not-applied",
        help="settle a write whose outcome is unknown (e.g. each[3]=applied); repeatable",
    )
    retry.add_argument(
        "--item",
        action="append",
        dest="items",
        metavar="STEP[INDEX]",
        help="re-run only this loop item (e.g. each[3]), the others carried over as they were; "
        "repeatable",
    )
    retry.add_argument(
        "--follow",
        action="store_true",
        help="if the run was retried already, wait for that retry and show its result",
    )
    _max_wait_option(retry)
    temporal_options(retry)
    stop = sub.add_parser("cancel", help="ask a running run to stop, from any process")
    stop.add_argument("run_id")
    for parser in (ls, show, retry, stop):
        parser.add_argument("--home", type=Path, help="run-log directory")
        _runlog_option(parser)
        parser.add_argument("--json", action="store_true", help="JSON output")
    for parser in (ls, show, stop):  # runs held by Temporal are checked with it (temporal_runs)
        address_options(parser)
    ls.set_defaults(func=_list)
    show.set_defaults(func=_show)
    retry.set_defaults(func=_retry)
    stop.set_defaults(func=_cancel)


#: the most runs `runs list` shows at once
MAX_LIST = 100_000


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value[:40]!r}") from None
    if not 1 <= number <= MAX_LIST:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIST:,}, got {value[:40]}")
    return number


def _seconds(value: str) -> float:
    from connector.engine.retry_policy import MAX_WAIT_LIMIT

    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value[:40]!r}") from None
    if not 0 <= number <= MAX_WAIT_LIMIT:  # also refuses NaN and infinity
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {MAX_WAIT_LIMIT:,.0f} seconds, got {value[:40]}"
        )
    return number


def _max_wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-wait",
        type=_seconds,
        metavar="SECONDS",
        help="the longest wait before a retry this run accepts (a server's Retry-After "
        "included); a longer one fails the item as throttled. Waits of 30 s or more are "
        "announced as they start",
    )


def _show_options(show: argparse.ArgumentParser) -> None:
    from connector.cli.runs_show import add_options

    add_options(show)


def _runlog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runlog",
        metavar="URL",
        help="a shared run log: postgresql://user:password@host/db (default "
        "$CONNECTOR_RUNLOG, else runs.db in --home)",
    )


def _runlog(args: argparse.Namespace) -> Path | str:
    """The run log the command uses: --runlog, $CONNECTOR_RUNLOG, or the home's file."""
    from connector.engine.runlog import DB_NAME, default_home
    from connector.engine.runlog_store import is_url

    target = args.runlog or os.environ.get("CONNECTOR_RUNLOG")
    if target:
        return str(target) if is_url(str(target)) else Path(target)
    return (Path(args.home) if args.home else default_home()) / DB_NAME


def _trigger(value: str | None) -> Any:
    """The `--trigger` payload. A file (`@rows.json`, or `@/dev/stdin`) may hold a million
    rows: it has its own bounds (safe_load.TRIGGER_FILE_MAX_BYTES and _VALUES); JSON text
    given inline keeps every document's."""
    if value is None:
        return None
    from connector.safe_load import load_json, load_json_file

    if value.startswith("@"):
        return load_json_file(value[1:], what="trigger file")
    return load_json(value, "--trigger")


@contextlib.contextmanager
def _targets(sandbox: bool) -> Iterator[tuple[dict[str, str] | None, dict[str, str] | None]]:
    if not sandbox:
        yield None, None
        return
    from connector.sandbox.embedded import embedded_sandboxes

    with embedded_sandboxes() as boxes:
        yield dict(boxes.base_urls), dict(boxes.credentials)


def _session(
    catalog: Any,
    args: argparse.Namespace,
    base_urls: dict[str, str] | None,
    creds: dict[str, str] | None,
) -> contextlib.AbstractAsyncContextManager[Engine]:
    """The engine a `run` or `runs retry` command runs with (progress on stderr)."""
    from connector.engine.progress import for_stream
    from connector.engine.session import engine_session

    return engine_session(
        catalog,
        _runlog(args),
        base_urls=base_urls,
        credentials=creds,
        progress=for_stream(sys.stderr, quiet=args.json),
        max_wait=args.max_wait,
    )


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from connector.catalog import load_catalog
    from connector.engine.workflow import load_workflow, resolve_trigger

    catalog = load_catalog()
    # Everything is checked before the run log is even opened: invalid -> nothing written.
    workflow = load_workflow(args.workflow, catalog)
    trigger = resolve_trigger(workflow, _trigger(args.trigger))
    if temporal_address(args):
        from connector.cli.temporal_cmd import run_on_temporal

        return _print_result(run_on_temporal(args, workflow, trigger, catalog), args.json)

    async def go(base_urls: dict[str, str] | None, creds: dict[str, str] | None) -> RunResult:
        async with _session(catalog, args, base_urls, creds) as engine:
            return await engine.run(workflow, trigger)

    with _targets(args.sandbox) as (base_urls, creds):
        result = asyncio.run(go(base_urls, creds))
    return _print_result(result, args.json)


def _print_result(result: RunResult, as_json: bool) -> int:
    from connector.engine.report import render_value

    if as_json:
        from connector.cli.json_stream import write_json

        # A loop's items in the output are written as they are read (json_stream.py).
        write_json(redact_obj(asdict(result)), sys.stdout)
    else:
        print(f"\nrun {result.run_id}: {result.status} in {result.duration:.1f}s")
        if result.failed_step or result.error:
            error = result.error or {}
            print(f"failed step: {result.failed_step or '-'}")
            print(f"error: {redact(str(error.get('message', '')))}")
            if error.get("loop"):
                print(error["loop"])
            print(f"details: connector runs show {result.run_id}")
            print(f"retry:   connector runs retry {result.run_id}")
        else:
            print()
            lines = render_value(result.output, limit=SHOWN)
            print("\n".join(redact(line) for line in lines))
            if _has_long_list(result.output):
                print(f"\nevery value: connector runs show {result.run_id} --json")
    return 0 if result.ok else 1


#: entries of a list printed at most (a loop's items: the rest are in the run log)
SHOWN = 20


def _has_long_list(value: Any) -> bool:
    from connector.lazy_array import LazyArray

    if isinstance(value, LazyArray):  # a loop's items: their count is known, none read
        return len(value) > SHOWN
    if isinstance(value, list):
        return len(value) > SHOWN or any(_has_long_list(v) for v in value)
    if isinstance(value, dict):
        return any(_has_long_list(v) for v in value.values())
    return False


def _list(args: argparse.Namespace) -> int:
    from connector.engine.report import render_runs
    from connector.engine.runlog import RunLog

    with RunLog(_runlog(args), readonly=True) as log:
        runs = log.list_runs(status=args.status, limit=args.limit)
        if checked_with_temporal(args, log, _runlog(args), [r.id for r in runs]):
            runs = log.list_runs(status=args.status, limit=args.limit)
        if args.json:
            rows = [
                {
                    "id": r.id,
                    "workflow": r.workflow_name,
                    "status": r.display_status,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "parent_run_id": r.parent_run_id,
                    "failed_step": r.failed_step,
                }
                for r in runs
            ]
            print(json.dumps(rows, indent=2))
        else:
            print("\n".join(render_runs(runs)))
    return 0


def _show(args: argparse.Namespace) -> int:
    from connector.cli.runs_show import show
    from connector.engine.runlog import RunLog

    with RunLog(_runlog(args), readonly=True) as log:
        checked_with_temporal(args, log, _runlog(args), [args.run_id])
        return show(log, args)


def _cancel(args: argparse.Namespace) -> int:
    return cancel(_runlog(args), args.run_id, as_json=args.json, args=args)


def _retry(args: argparse.Namespace) -> int:
    import asyncio

    from connector.catalog import load_catalog
    from connector.engine.retry_run import retry_run
    from connector.engine.writes import parse_resolutions

    catalog = load_catalog()
    resolve = parse_resolutions(args.resolve)  # a malformed pair fails before anything
    checked_parent(args, _runlog(args))

    async def go(base_urls: dict[str, str] | None, creds: dict[str, str] | None) -> RunResult:
        async with _session(catalog, args, base_urls, creds) as engine:
            return await retry_run(
                engine, args.run_id, current=args.current, resolve=resolve, items=args.items
            )

    try:
        if temporal_address(args):
            from connector.cli.temporal_cmd import retry_on_temporal

            result = retry_on_temporal(args, resolve)
        else:
            with _targets(args.sandbox) as (base_urls, creds):
                result = asyncio.run(go(base_urls, creds))
    except AlreadyRetried as exc:
        if not args.follow:
            if args.json:  # the child's id, for a script to follow
                print(json.dumps({"retried_as": exc.child_run_id, "error": str(exc)}))
                return exc.exit_code
            raise
        print(f"run {args.run_id} was already retried as run {exc.child_run_id}; following it",
              file=sys.stderr)  # fmt: skip
        result = _follow(_runlog(args), exc.child_run_id)
    return _print_result(result, args.json)


def _follow(db: Path | str, run_id: str, *, poll: float = 0.2) -> RunResult:
    """Wait for run `run_id` to end (or its process to die) and return its result."""
    from connector.engine.executor import RunResult
    from connector.engine.runlog import RunLog

    with RunLog(db, readonly=True) as log:
        run = log.get_run(run_id)
        while run.status == "running" and not run.interrupted:
            time.sleep(poll)
            run = log.get_run(run_id)
    finished = run.finished_at if run.finished_at is not None else run.started_at
    return RunResult(
        run.id, run.display_status, run.output, run.error, run.failed_step,
        run.started_at, finished,
    )  # fmt: skip
