"""The shorten.dev sandbox as the shorten.dev app's SandboxPlugin (named by
connector.apps.shorten_dev)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from connector.sandbox.config import DEMO_SHORTEN_KEY, SandboxConfig
from connector.sandbox.options import count
from connector.sandbox.plugin import SandboxPlugin
from connector.sandbox.shorten_dev.app import DEFAULT_CREATION_LIMIT_PER_HOUR, create_app
from connector.sandbox.shorten_dev.auth import ALL_SCOPES

__all__ = ["SANDBOX"]

_SCOPES = ("read", "write", "admin")


def _key(value: str) -> tuple[str, frozenset[str]]:
    """`KEY` (every scope) or `KEY=read,write`."""
    key, sep, scopes_text = value.partition("=")
    if not key.strip() or any(c.isspace() for c in key):
        raise argparse.ArgumentTypeError("a key must be non-empty, without spaces")
    if not sep:
        return key, ALL_SCOPES
    scopes = {s.strip() for s in scopes_text.split(",") if s.strip()}
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown or not scopes:
        # The key itself is not echoed: it may be a real-looking secret.
        raise argparse.ArgumentTypeError(
            f"scopes must be a comma list of {', '.join(_SCOPES)}; got {scopes_text!r}"
        )
    return key, frozenset(scopes)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--creation-limit",
        type=count,
        default=DEFAULT_CREATION_LIMIT_PER_HOUR,
        metavar="N",
        help=f"links created an hour, single and bulk together ({DEFAULT_CREATION_LIMIT_PER_HOUR})",
    )


def _create(config: SandboxConfig, options: Mapping[str, Any]) -> Any:
    limit = options.get("creation_limit", DEFAULT_CREATION_LIMIT_PER_HOUR)
    return create_app(config, creation_limit_per_hour=limit)


SANDBOX = SandboxPlugin(
    name="shorten.dev",
    description="shorten.dev API v1 at /api/v1 (port 8412)",
    api_path="/api/v1",
    demo_credential=DEMO_SHORTEN_KEY,
    create_app=_create,
    default_port=8412,
    add_options=_options,
    parse_token=_key,
    token_metavar="KEY[=SCOPES]",
    token_help="accepted key and its scopes, e.g. sk_x=read,write (all scopes when none named)",
    credential_name="key",
)
