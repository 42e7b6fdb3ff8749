"""An app's sandbox as a plugin: how to build it, where its API lives, what it accepts.

An AppPlugin names its sandbox as "module:attribute" (connector.plugins); the module is
imported only when a sandbox is started: `--sandbox` runs (connector.sandbox.embedded) and
`connector sandbox serve APP` (connector.cli.sandbox_cmd).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.errors import InvalidConfiguration
from connector.plugins import AppPlugin, installed_apps
from connector.sandbox.config import SandboxConfig
from connector.sandbox.controls import Limits

__all__ = ["SandboxPlugin", "installed_sandboxes", "load_sandbox", "plain_token"]


def plain_token(value: str) -> tuple[str, frozenset[str]]:
    """One `--token` value accepted as is, with no scopes."""
    if not value.strip() or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError("a token must be non-empty, without spaces")
    return value, frozenset()


@dataclass(frozen=True)
class SandboxPlugin:
    """A local server that behaves like an app's API."""

    #: the server's name in messages: "Bitly" -> "Bitly sandbox: http://127.0.0.1:8411/v4"
    name: str
    #: one line for `connector sandbox serve --help`
    description: str
    #: the API's base path on the server: base URL = server root + api_path
    api_path: str
    #: the credential the sandbox accepts when no --token is given (public, for demos)
    demo_credential: str
    #: the ASGI app; `options` holds `add_options`' values by dest, empty for defaults
    create_app: Callable[[SandboxConfig, Mapping[str, Any]], Any]
    #: where `connector sandbox serve` listens unless --port says otherwise
    default_port: int
    #: adds the app's own `connector sandbox serve` options
    add_options: Callable[[argparse.ArgumentParser], None] | None = None
    #: one --token value -> (credential, scopes); ArgumentTypeError names what is wrong
    parse_token: Callable[[str], tuple[str, frozenset[str]]] = plain_token
    #: --token's metavar and help
    token_metavar: str = "TOKEN"
    token_help: str = "accepted bearer token (repeatable); the demo token when none"
    #: what the ready line calls the credential ("token", "key")
    credential_name: str = "token"
    #: the limits it enforces when embedded for `--sandbox` commands (None: none)
    embedded_limits: Callable[[], Limits] | None = None


def load_sandbox(app: AppPlugin) -> SandboxPlugin | None:
    """The app's sandbox, or None when it has none; InvalidConfiguration when it is broken."""
    if app.sandbox is None:
        return None
    module_name, _, attr = app.sandbox.partition(":")
    where = f"app '{app.key}': sandbox '{app.sandbox}'"
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # third-party code: any failure is that app's problem
        reason = f"{type(exc).__name__}: {exc}"
        raise InvalidConfiguration(f"{where} cannot be loaded: {reason}") from None
    if not isinstance(found, SandboxPlugin):
        kind = type(found).__name__
        raise InvalidConfiguration(f"{where} is a {kind}, not a SandboxPlugin")
    return found


def installed_sandboxes() -> dict[str, SandboxPlugin]:
    """The sandbox of every installed app that has one, by app key."""
    boxes = {key: load_sandbox(app) for key, app in installed_apps().items()}
    return {key: box for key, box in boxes.items() if box is not None}
