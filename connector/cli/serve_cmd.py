"""`connector serve`: the builder service (HTTP API and web console) under uvicorn.

Exit codes: 0 stopped, 2 refused to start (no API key and not a loopback sandbox, a bad
option, an address in use).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from connector.cli.run_cmd import _runlog, _runlog_option
from connector.errors import InvalidConfiguration

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="the builder service: HTTP API and web console")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8400, help="port (default 8400)")
    serve.add_argument("--sandbox", action="store_true", help="run actions against local sandboxes")
    serve.add_argument("--home", type=Path, help="run log and store (default $CONNECTOR_HOME)")
    _runlog_option(serve)
    serve.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="an API key clients present (repeatable; also $CONNECTOR_API_KEYS, comma-separated)",
    )
    serve.set_defaults(func=_serve)


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value[:40]!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value[:40]}")
    return number


def _serve(args: argparse.Namespace) -> int:
    from connector.cli.run_cmd import _targets  # the sandboxes `run --sandbox` uses
    from connector.engine.runlog import default_home
    from connector.service.config import KEYS_ENV, api_keys_from, generated_key, is_loopback
    from connector.service.secret_box import SecretBox

    keys = api_keys_from(args.api_key)
    generated = None
    if not keys:
        if not (args.sandbox and is_loopback(args.host)):
            raise InvalidConfiguration(
                f"no API key: give --api-key KEY or set {KEYS_ENV} (only a sandbox bound to "
                "a loopback address may start without one, with a generated key)",
                where="connector serve",
            )
        generated = generated_key()
        keys = (generated,)

    import uvicorn

    from connector.sandbox.server import bind, uvicorn_config
    from connector.service import ServiceConfig, create_app

    home = Path(args.home) if args.home else default_home()
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise InvalidConfiguration(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            where="connector serve",
        ) from None
    with _targets(args.sandbox) as (base_urls, creds):
        app = create_app(
            ServiceConfig(
                home=home,
                api_keys=keys,
                base_urls=base_urls,
                credentials=creds,
                sandbox=args.sandbox,
                runlog=_runlog(args),
                secret_box=SecretBox.from_env(sandbox=args.sandbox),
            )
        )
        port = sock.getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"connector service on http://{host}:{port}/ (console), API at /v1", flush=True)
        if args.sandbox:
            print("actions run against the local sandboxes", flush=True)
        if generated is not None:
            # Shown once, here: the one place it is printed (it is masked everywhere else).
            sys.stdout.write(f"API key for this session: {generated}\n")
            sys.stdout.flush()
        server = uvicorn.Server(uvicorn_config(app, args.host, port))
        server.run(sockets=[sock])
    return 0
