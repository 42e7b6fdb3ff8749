"""The Bitly sandbox as the Bitly app's SandboxPlugin (named by connector.apps.bitly)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from connector.sandbox.bitly.app import create_app
from connector.sandbox.bitly.limits import basic_account_limits
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.plugin import SandboxPlugin

__all__ = ["SANDBOX"]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan",
        choices=("premium", "free"),
        default="premium",
        help="account plan: on 'free' the premium operations answer 402 (premium)",
    )


def _create(config: SandboxConfig, options: Mapping[str, Any]) -> Any:
    return create_app(config, plan=options.get("plan", "premium"))


SANDBOX = SandboxPlugin(
    name="Bitly",
    description="Bitly API v4 at /v4 (port 8411)",
    api_path="/v4",
    demo_credential=DEMO_BITLY_TOKEN,
    create_app=_create,
    default_port=8411,
    add_options=_options,
    token_metavar="T",
    embedded_limits=basic_account_limits,
)
