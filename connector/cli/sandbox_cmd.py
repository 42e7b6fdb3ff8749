"""`connector sandbox serve APP`: run an installed app's sandbox server in the foreground.

    connector sandbox serve bitly --seed demo
    connector sandbox serve shorten_dev --port 8412 --token sk_live_x=read,write

APP is any installed app with a sandbox (connector.plugins); its options are the common ones
below plus its own (`connector sandbox serve APP --help`). They are parsed only once APP is
known, so building the CLI discovers no plugin. Option values are checked by argparse types,
so a bad value is one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from connector.cli.parser import OneLineParser
from connector.errors import InvalidConfiguration
from connector.sandbox.options import count as _count

if TYPE_CHECKING:
    from connector.sandbox.controls import Controls
    from connector.sandbox.plugin import SandboxPlugin

# The sandbox (its server, controls and data) is imported by the command that serves one,
# when it runs: `connector --help` and every other command never load it.

__all__ = ["register"]


# -- option types: each raises ArgumentTypeError with the reason --------------------------------


def _port(value: str) -> int:
    number = _count(value)
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {number}")
    return number


def _bounded(what: str, low: float, high: float, unit: str = "") -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None
        if not low <= number <= high:  # also refuses NaN
            raise argparse.ArgumentTypeError(
                f"must be between {low:g} and {high:g}{unit}, got {value}"
            )
        return number

    return parse


_rate = _bounded("a probability", 0.0, 1.0)
_millis = _bounded("milliseconds", 0.0, 60_000, " ms")


def _seed(value: str) -> int:
    from connector.sandbox.config import parse_seed

    try:
        seed = parse_seed(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--seed ")) from None
    assert seed is not None
    return seed


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None


def _db(value: str) -> str:
    folder = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"folder {folder!r} does not exist")
    if os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"{value!r} is a folder; give a file path")
    try:
        with open(value, "rb") as handle:
            header = handle.read(16)
    except FileNotFoundError:
        return value  # created on start
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {value!r}: {exc.strerror}") from None
    if header and header != _SQLITE_HEADER:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an SQLite database; give a new path or a sandbox's database"
        )
    return value


_SQLITE_HEADER = b"SQLite format 3\x00"


def _admin_token(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError("a token must be non-empty, without spaces")
    return value


# -- parsers --------------------------------------------------------------------------------


def _common_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=default_port, help=f"({default_port})")
    parser.add_argument("--seed", type=_seed, help="load demo data: 'demo' or a number")
    parser.add_argument("--db", type=_db, help="SQLite file kept across restarts (memory)")
    limits = parser.add_argument_group("limits (per endpoint unless said otherwise)")
    limits.add_argument("--per-second", type=_count, metavar="N")
    limits.add_argument("--per-minute", type=_count, metavar="N")
    limits.add_argument("--per-hour", type=_count, metavar="N")
    limits.add_argument("--concurrency", type=_count, metavar="N", help="requests at once")
    limits.add_argument(
        "--concurrency-per-client",
        type=_count,
        metavar="N",
        help="requests at once from one client address (Bitly: 5 per client IP)",
    )
    limits.add_argument("--monthly-quota", type=_count, metavar="N", help="requests a month")
    limits.add_argument(
        "--windows",
        choices=["fixed", "sliding"],
        default="fixed",
        help="clock-aligned windows (fixed, as Bitly's) or any interval of the length (sliding)",
    )
    faults = parser.add_argument_group("injected faults (deterministic under --fault-seed)")
    faults.add_argument("--error-rate", type=_rate, default=0.0, metavar="P", help="500/502/503")
    faults.add_argument("--latency-ms", type=_millis, default=0.0, metavar="MS")
    faults.add_argument("--drop-rate", type=_rate, default=0.0, metavar="P", help="cut first")
    faults.add_argument(
        "--lost-write-rate", type=_rate, default=0.0, metavar="P", help="apply, then cut"
    )
    faults.add_argument("--fault-seed", type=_integer, default=0, metavar="N")
    parser.add_argument(
        "--admin",
        action="store_true",
        help="expose /_sandbox/counts, /_sandbox/windows and /_sandbox/controls (off by "
        "default); they need "
        "the X-Sandbox-Admin-Token header, printed at start",
    )
    parser.add_argument(
        "--admin-token",
        type=_admin_token,
        metavar="T",
        help="the admin token to require (a random one when not given)",
    )


def register(subparsers: Any) -> None:
    sandbox = subparsers.add_parser("sandbox", help="local servers that behave like the APIs")
    actions = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="run a sandbox server until Ctrl-C",
        description="Run an installed app's sandbox; `connector sandbox serve APP --help` "
        "lists its options.",
    )
    serve.add_argument("app", metavar="APP", nargs="?", help="an installed app with a sandbox")
    serve.add_argument("options", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve)


def _app_parser(app: str, box: SandboxPlugin) -> argparse.ArgumentParser:
    # The same one-line usage errors as the main parser (argparse's default prints the usage).
    parser = OneLineParser(prog=f"connector sandbox serve {app}", description=box.description)
    _common_options(parser, box.default_port)
    parser.add_argument(
        "--token",
        action="append",
        type=box.parse_token,
        default=[],
        metavar=box.token_metavar,
        help=box.token_help,
    )
    if box.add_options is not None:
        box.add_options(parser)
    return parser


# -- running ----------------------------------------------------------------------------------


def _controls(args: argparse.Namespace) -> Controls:
    from connector.sandbox.controls import Controls, Faults, Limits

    return Controls(
        limits=Limits(
            per_second=args.per_second,
            per_minute=args.per_minute,
            per_hour=args.per_hour,
            concurrency=args.concurrency,
            concurrency_per_client=args.concurrency_per_client,
            monthly_quota=args.monthly_quota,
            windows=args.windows,
        ),
        faults=Faults(
            error_rate=args.error_rate,
            latency_ms=args.latency_ms,
            drop_rate=args.drop_rate,
            lost_write_rate=args.lost_write_rate,
            seed=args.fault_seed,
        ),
        admin=args.admin,
        admin_token=args.admin_token,
    )


def _run(
    app: Any, args: argparse.Namespace, controls: Controls, describe: Callable[[str], str]
) -> int:
    from connector.sandbox.server import serve

    admin = f"  admin token: {controls.admin_token}" if controls.admin else ""

    def ready(url: str) -> None:
        print(describe(url) + admin, flush=True)

    try:
        serve(app, args.host, args.port, on_ready=ready)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _opening(db: str | None) -> Iterator[None]:
    """A damaged or foreign --db file: one line, exit 2, instead of sqlite3's traceback."""
    import sqlite3

    try:
        yield
    except sqlite3.Error as exc:
        raise InvalidConfiguration(
            f"cannot use it as the sandbox's database: {exc}", where=f"--db {db}"
        ) from None


def _serve(args: argparse.Namespace) -> int:
    from connector.plugins import installed_apps
    from connector.sandbox.config import SandboxConfig
    from connector.sandbox.plugin import load_sandbox

    apps = installed_apps()
    chosen = apps.get(args.app) if args.app else None
    # Only the chosen app's sandbox module is imported.
    box = load_sandbox(chosen) if chosen is not None else None
    if box is None:
        known = ", ".join(sorted(k for k, app in apps.items() if app.sandbox)) or "none"
        problem = f"no installed app '{args.app}' with a sandbox" if args.app else "name an app"
        print(f"error: {problem}; apps with a sandbox: {known}", file=sys.stderr)
        return 2
    options = _app_parser(args.app, box).parse_args(args.options)
    tokens = dict(options.token)
    config = SandboxConfig(
        seed=options.seed, db_path=options.db, tokens=tokens, controls=_controls(options)
    )
    with _opening(options.db):
        app = box.create_app(config, vars(options))
    shown = "the --token given" if tokens else box.demo_credential
    line = f"{box.name} sandbox: {{url}}{box.api_path}  {box.credential_name}: {shown}"
    return _run(app, options, config.controls, lambda url: line.format(url=url))
