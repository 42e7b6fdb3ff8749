"""The `connector` command: one dispatcher; each command group lives in its own module.

A command module exposes `register(subparsers)`, which adds its parser(s) and sets
`func(args) -> int` on them. Errors from the connector's hierarchy are shown here, once,
as one redacted line with the error's own exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from connector.cli.parser import OneLineParser
from connector.cli.temporal_cmd import leave
from connector.errors import ConnectorError
from connector.redact import redact
from connector.terminal import escaped_output

__all__ = ["main"]

# Command groups, in the order `--help` lists them.
_COMMAND_MODULES = (
    "connector.cli.sandbox_cmd",
    "connector.cli.catalog_cmd",
    "connector.cli.actions_cmd",
    "connector.cli.run_cmd",
    "connector.cli.limits_cmd",
    "connector.cli.serve_cmd",
    "connector.cli.triggers_cmd",
    "connector.cli.temporal_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="connector",
        description="Workflow-automation connector: catalog, runtime and sandbox servers of the "
        "installed apps.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Names, ids and API messages are shown, never obeyed by the terminal (escape sequences).
    with escaped_output():
        args = parser.parse_args(argv)
        try:
            code: int = args.func(args)
        except ConnectorError as exc:
            print(f"error: {redact(str(exc))}", file=sys.stderr)
            return leave(exc.exit_code)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return leave(130)
    return leave(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
