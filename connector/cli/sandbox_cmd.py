"""`connector sandbox serve bitly|shorten_dev`: run a sandbox server in the foreground.

    connector sandbox serve bitly --seed demo
    connector sandbox serve shorten_dev --port 8412 --token sk_live_x=read,write

Option values are checked by argparse types, so a bad value is one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.sandbox.controls import Controls

# The sandbox (its server, controls and data) is imported only by the commands that serve
# one: `connector --help` and every other command never load it.

__all__ = ["register"]

_SCOPES = ("read", "write", "admin")


# -- option types: each raises ArgumentTypeError with the reason --------------------------------


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number


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
    return value


def _bitly_token(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError("a token must be non-empty, without spaces")
    return value


def _shorten_token(value: str) -> tuple[str, frozenset[str]]:
    """`KEY` (every scope) or `KEY=read,write`."""
    key, sep, scopes_text = value.partition("=")
    if not key.strip() or any(c.isspace() for c in key):
        raise argparse.ArgumentTypeError("a key must be non-empty, without spaces")
    if not sep:
        return key, frozenset(_SCOPES)
    scopes = {s.strip() for s in scopes_text.split(",") if s.strip()}
    unknown = sorted(scopes - set(_SCOPES))
    if unknown or not scopes:
        # The key itself is not echoed: it may be a real-looking secret.
        raise argparse.ArgumentTypeError(
            f"scopes must be a comma list of {', '.join(_SCOPES)}; got {scopes_text!r}"
        )
    return key, frozenset(scopes)


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
    limits.add_argument("--monthly-quota", type=_count, metavar="N", help="requests a month")
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
        help="expose /_sandbox/counts and /_sandbox/controls (off by default)",
    )


def register(subparsers: Any) -> None:
    sandbox = subparsers.add_parser("sandbox", help="local servers that behave like the APIs")
    actions = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="run a sandbox server until Ctrl-C")
    apps = serve.add_subparsers(dest="app", metavar="APP", required=True)

    bitly = apps.add_parser("bitly", help="Bitly API v4 at /v4 (port 8411)")
    _common_options(bitly, 8411)
    bitly.add_argument(
        "--token",
        action="append",
        type=_bitly_token,
        default=[],
        metavar="T",
        help="accepted bearer token (repeatable); the demo token when none",
    )
    bitly.add_argument(
        "--plan",
        choices=("premium", "free"),
        default="premium",
        help="account plan: on 'free' the premium operations answer 402 (premium)",
    )
    bitly.set_defaults(func=_serve_bitly)

    shorten = apps.add_parser("shorten_dev", help="shorten.dev API v1 at /api/v1 (port 8412)")
    _common_options(shorten, 8412)
    shorten.add_argument(
        "--token",
        action="append",
        type=_shorten_token,
        default=[],
        metavar="KEY[=SCOPES]",
        help="accepted key and its scopes, e.g. sk_x=read,write (all scopes when none named)",
    )
    shorten.add_argument(
        "--creation-limit",
        type=_count,
        default=300,
        metavar="N",
        help="links created an hour, single and bulk together (300)",
    )
    shorten.set_defaults(func=_serve_shorten)


# -- running ----------------------------------------------------------------------------------


def _controls(args: argparse.Namespace) -> Controls:
    from connector.sandbox.controls import Controls, Faults, Limits

    return Controls(
        limits=Limits(
            per_second=args.per_second,
            per_minute=args.per_minute,
            per_hour=args.per_hour,
            concurrency=args.concurrency,
            monthly_quota=args.monthly_quota,
        ),
        faults=Faults(
            error_rate=args.error_rate,
            latency_ms=args.latency_ms,
            drop_rate=args.drop_rate,
            lost_write_rate=args.lost_write_rate,
            seed=args.fault_seed,
        ),
        admin=args.admin,
    )


def _run(app: Any, args: argparse.Namespace, describe: Callable[[str], str]) -> int:
    from connector.sandbox.server import serve

    def ready(url: str) -> None:
        print(describe(url), flush=True)

    try:
        serve(app, args.host, args.port, on_ready=ready)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def _serve_bitly(args: argparse.Namespace) -> int:
    from connector.sandbox.bitly import create_app
    from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig

    tokens = {t: frozenset[str]() for t in args.token}
    config = SandboxConfig(seed=args.seed, db_path=args.db, tokens=tokens, controls=_controls(args))
    app = create_app(config, plan=args.plan)
    shown = "the --token given" if tokens else DEMO_BITLY_TOKEN
    return _run(app, args, lambda url: f"Bitly sandbox: {url}/v4  token: {shown}")


def _serve_shorten(args: argparse.Namespace) -> int:
    from connector.sandbox.config import DEMO_SHORTEN_KEY, SandboxConfig
    from connector.sandbox.shorten_dev import create_app

    tokens = dict(args.token)
    config = SandboxConfig(seed=args.seed, db_path=args.db, tokens=tokens, controls=_controls(args))
    app = create_app(config, creation_limit_per_hour=args.creation_limit)
    shown = "the --token given" if tokens else DEMO_SHORTEN_KEY
    return _run(app, args, lambda url: f"shorten.dev sandbox: {url}/api/v1  key: {shown}")
