"""What one service process is configured with (the CLI builds it from its options)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.clock import Clock
from connector.engine.runlog import DB_NAME as RUNLOG_NAME
from connector.errors import InvalidConfiguration
from connector.service.secret_box import SecretBox

__all__ = ["KEYS_ENV", "MAX_BODY_BYTES", "ServiceConfig", "api_keys_from", "is_loopback"]

#: comma-separated API keys the service accepts (besides --api-key)
KEYS_ENV = "CONNECTOR_API_KEYS"
#: the largest request body accepted; a workflow of a few thousand steps fits
MAX_BODY_BYTES = 1_000_000


@dataclass
class ServiceConfig:
    #: run log (runs.db) and the service's own store (service.db) live here
    home: Path
    #: the keys a client may present; never empty once the app is built
    api_keys: tuple[str, ...]
    #: runs and tests go to these base URLs with these credentials (None: the manifests'
    #: URLs and the apps' environment credentials, as the CLI does)
    base_urls: dict[str, str] | None = None
    credentials: dict[str, str] | None = field(default=None, repr=False)
    sandbox: bool = False
    #: the engine's clock (tests inject a FakeClock so retry waits take no time)
    clock: Clock | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    #: the catalog served (default: the installed one)
    catalog: Any = None
    #: the run log shared with the CLI and workers (--runlog/$CONNECTOR_RUNLOG: a
    #: `postgresql://` URL or a SQLite path); None: runs.db in `home`
    runlog: Path | str | None = None
    #: seconds between two reads of the run log by an event stream (GET .../events)
    events_poll: float = 0.2
    #: seals saved connections (None: connections cannot be saved; see SecretBox.from_env)
    secret_box: SecretBox | None = field(default=None, repr=False)

    @property
    def runlog_target(self) -> Path | str:
        return self.runlog if self.runlog is not None else self.home / RUNLOG_NAME


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_keys_from(given: list[str] | None, env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The keys from --api-key and $CONNECTOR_API_KEYS (comma-separated), blanks dropped."""
    keys = [k.strip() for k in given or []]
    keys += [k.strip() for k in env.get(KEYS_ENV, "").split(",")]
    keys = [k for k in keys if k]
    for key in keys:
        if len(key) < 16:
            raise InvalidConfiguration(
                "an API key must be at least 16 characters long", where=f"--api-key/{KEYS_ENV}"
            )
    return tuple(dict.fromkeys(keys))


def generated_key() -> str:
    return "sk_" + secrets.token_urlsafe(24)
