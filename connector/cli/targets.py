"""Where a command's requests go: the apps' configured APIs, or with `--sandbox` the embedded
sandboxes (demo data) for the length of the block."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["add_target_arguments", "api_targets"]


def add_target_arguments(parser: argparse.ArgumentParser, inputs_help: str) -> None:
    """--input KEY=VALUE (repeated), --sandbox and --json, as every command that calls an
    app takes them."""
    parser.add_argument(
        "--input", action="append", default=[], metavar="KEY=VALUE", help=inputs_help
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandboxes with demo data and call them",
    )
    parser.add_argument("--json", action="store_true", help="print compact JSON (one line)")


@contextmanager
def api_targets(sandbox: bool) -> Iterator[dict[str, Any]]:
    """Keyword arguments for connector.api's calls: base_urls and credentials, or none."""
    if not sandbox:
        yield {}
        return
    from connector.sandbox.embedded import embedded_sandboxes

    with embedded_sandboxes() as boxes:
        yield {"base_urls": dict(boxes.base_urls), "credentials": dict(boxes.credentials)}
